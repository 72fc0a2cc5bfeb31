/**
 * The 2026-07-28 request headers that mirror the body (Streamable HTTP, "Request Metadata"):
 * `Mcp-Method`, `Mcp-Name` (params.name or params.uri) and `Mcp-Param-{Name}` for tool arguments
 * whose schema carries `x-mcp-header`, with the Base64 sentinel `=?base64?...?=` for values that
 * are not plain header-safe ASCII. Used both ways: to build an upstream request's headers, and to
 * check a modern client's headers against its body (the gateway processes the body, so it must).
 * The SDK implements the same rules internally but does not export them.
 */

const SENTINEL = /^=\?base64\?([A-Za-z0-9+/]*={0,2})\?=$/;
/** Anything shaped like a sentinel: never a plain value (a malformed one is refused, not taken as text). */
const SENTINEL_SHAPED = /^=\?base64\?.*\?=$/;
/** RFC 9110 tchar: what a header field name may contain. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Whether a value can travel as a plain header value (visible ASCII and inner spaces/tabs). */
function plainSafe(v: string): boolean {
  return /^[\x21-\x7e]([\x20-\x7e\t]*[\x21-\x7e])?$/.test(v) && !SENTINEL_SHAPED.test(v);
}

function utf8ToBase64(v: string): string {
  let s = "";
  for (const b of new TextEncoder().encode(v)) s += String.fromCharCode(b);
  return btoa(s);
}

/** A value as a header value: plain when safe, else the Base64 sentinel of its UTF-8. */
export function encodeHeaderValue(v: string): string {
  return v !== "" && plainSafe(v) ? v : `=?base64?${utf8ToBase64(v)}?=`;
}

/**
 * A header value decoded (sentinel or plain); undefined when the text has control characters or
 * looks like a sentinel (`=?base64?...?=`) whose Base64 is not canonical: other alphabet
 * characters, or a length that is not a multiple of 4 (missing padding), which `atob` would take.
 */
export function decodeHeaderValue(v: string): string | undefined {
  const t = v.trim();
  const m = SENTINEL.exec(t);
  if (!m) return /[\x00-\x08\x0a-\x1f\x7f]/.test(t) || SENTINEL_SHAPED.test(t) ? undefined : t;
  if (m[1]!.length % 4 !== 0) return undefined;
  try {
    const bin = atob(m[1]!);
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(
      Uint8Array.from(bin, (c) => c.charCodeAt(0)),
    );
  } catch {
    return undefined;
  }
}

/** The body value `Mcp-Name` mirrors, for the methods that have one. */
export function nameSource(
  method: string,
  params: Record<string, unknown> | undefined,
): { field: string; value: unknown } | undefined {
  if (method === "tools/call" || method === "prompts/get") return { field: "name", value: params?.name };
  if (method === "resources/read") return { field: "uri", value: params?.uri };
  if (method === "tasks/get" || method === "tasks/update" || method === "tasks/cancel")
    return { field: "taskId", value: params?.taskId };
  return undefined;
}

/** One `x-mcp-header` annotation of a tool's input schema. */
export interface ParamHeader {
  /** Header name part: the header is `Mcp-Param-{name}`. */
  name: string;
  /** The chain of `properties` keys leading to the annotated property. */
  path: string[];
  type: "string" | "integer" | "boolean";
}

/**
 * The `x-mcp-header` annotations of an input schema, or a reason the definition is invalid
 * (the spec's constraints: a token name, unique case-insensitively, primitive non-number types,
 * reachable from the root through `properties` only).
 */
export function paramHeaders(inputSchema: unknown): ParamHeader[] | { invalid: string } {
  const out: ParamHeader[] = [];
  const seen = new Set<string>();
  let problem: string | null = null;
  const visit = (schema: unknown, path: string[], reachable: boolean) => {
    if (problem || !schema || typeof schema !== "object") return;
    if (Array.isArray(schema)) {
      for (const s of schema) visit(s, path, false);
      return;
    }
    const o = schema as Record<string, unknown>;
    if ("x-mcp-header" in o) {
      const name = o["x-mcp-header"];
      const type = o.type;
      if (!reachable)
        problem = `x-mcp-header at ${path.join(".") || "(root)"} is not reachable through properties alone`;
      else if (typeof name !== "string" || !TOKEN.test(name))
        problem = `x-mcp-header ${JSON.stringify(name)} is not a header name token`;
      else if (seen.has(name.toLowerCase())) problem = `x-mcp-header ${name} is used twice`;
      else if (type !== "string" && type !== "integer" && type !== "boolean")
        problem = `x-mcp-header ${name} annotates a ${JSON.stringify(type)} parameter (only string, integer, boolean)`;
      else {
        seen.add(name.toLowerCase());
        out.push({ name, path, type });
      }
    }
    for (const [k, v] of Object.entries(o)) {
      if (k === "properties" && v && typeof v === "object" && !Array.isArray(v)) {
        for (const [prop, sub] of Object.entries(v as Record<string, unknown>)) visit(sub, [...path, prop], reachable);
      } else if (k !== "x-mcp-header" && v && typeof v === "object") visit(v, path, false);
    }
  };
  visit(inputSchema, [], true);
  return problem ? { invalid: problem } : out;
}

function valueAt(args: unknown, path: string[]): unknown {
  let v: unknown = args;
  for (const k of path) {
    if (!v || typeof v !== "object" || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

function primitiveText(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "number" && Number.isSafeInteger(v)) return String(v);
  return undefined;
}

/** The `Mcp-Param-*` headers for a call's arguments (omitted where the argument is absent or null). */
export function paramHeaderValues(decls: ParamHeader[], args: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const d of decls) {
    const text = primitiveText(valueAt(args, d.path));
    if (text !== undefined) out[`Mcp-Param-${d.name}`] = encodeHeaderValue(text);
  }
  return out;
}

/** Why a modern request's `Mcp-Param-*` headers disagree with its arguments, or null when they agree. */
export function paramHeaderMismatch(decls: ParamHeader[], args: unknown, headers: Headers): string | null {
  for (const d of decls) {
    const body = valueAt(args, d.path);
    const text = primitiveText(body);
    if (text === undefined) continue;
    const header = headers.get(`mcp-param-${d.name}`);
    if (header === null)
      return `the body carries ${d.path.join(".")}=${JSON.stringify(body)} but the Mcp-Param-${d.name} header is absent`;
    const decoded = decodeHeaderValue(header);
    if (decoded === undefined)
      return `the Mcp-Param-${d.name} header is not a valid header value (control characters, or an invalid Base64 sentinel)`;
    const same =
      typeof body === "number" && /^-?\d+(\.0+)?$/.test(decoded) ? Number(decoded) === body : decoded === text;
    if (!same)
      return `the Mcp-Param-${d.name} header says ${JSON.stringify(decoded)} but the body carries ${d.path.join(".")}=${JSON.stringify(body)}`;
  }
  return null;
}
