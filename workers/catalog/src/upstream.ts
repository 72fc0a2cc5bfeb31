/**
 * Lists what one upstream MCP server offers, with the official SDK client: initialize, then
 * tools (every page), prompts, resources and resource templates - only what the server's
 * capabilities announce. Streamable HTTP first; the legacy HTTP+SSE transport when the server
 * row says `sse` or when Streamable HTTP is refused with a 4xx at initialize. The server's stored
 * secret headers are injected; the whole listing is bounded by one timeout.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StreamableHTTPClientTransport, StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import { CfWorkerJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/cfworker";
import { z } from "zod";
import type { McpItem } from "../../../shared/catalog.schema";
import type { ItemsByKind, RefreshResult } from "../../../shared/repos/catalog.repo";

/** What the lister needs of a server row. */
export interface UpstreamTarget {
  id: string;
  url: string;
  transport: "streamable-http" | "sse";
  headers: Record<string, string>;
}

const CLIENT_INFO = { name: "mcp-gateway-catalog", version: "0.1.0" };
/** Pages followed per list before giving up on a server that never ends its cursor chain. */
const MAX_PAGES = 100;

class Deadline extends Error {}

type ListMethod = "tools/list" | "prompts/list" | "resources/list" | "resources/templates/list";
const LIST_KEYS = { "tools/list": "tools", "prompts/list": "prompts", "resources/list": "resources", "resources/templates/list": "resourceTemplates" } as const;
const Items = z.array(z.record(z.string(), z.unknown())).optional();
/** A page of any list: the items kept whole (unknown fields included), the cursor checked. */
const ListPage = z.looseObject({ tools: Items, prompts: Items, resources: Items, resourceTemplates: Items, nextCursor: z.string().optional() });

/**
 * The catalog lists as a fully capable client: some servers (server-everything among them) offer
 * tools that need sampling, elicitation or roots only to clients that declare them, and the
 * gateway forwards those requests to clients that do. Nothing is ever asked of this client
 * while it only lists.
 */
const LISTING_CAPABILITIES = { sampling: {}, elicitation: { form: {}, url: {} }, roots: { listChanged: true } };

function newClient(): Client {
  // Ajv (the SDK's default validator) generates code, which workerd forbids.
  return new Client(CLIENT_INFO, { capabilities: LISTING_CAPABILITIES, jsonSchemaValidator: new CfWorkerJsonSchemaValidator() });
}

function transportFor(kind: "streamable-http" | "sse", target: UpstreamTarget): Transport {
  const url = new URL(target.url);
  const requestInit: RequestInit = { headers: { ...target.headers } };
  return kind === "sse" ? new SSEClientTransport(url, { requestInit }) : new StreamableHTTPClientTransport(url, { requestInit });
}

/** Captures the protocol version the client negotiated (the SDK tells the transport). */
function watchVersion(transport: Transport): () => string | null {
  let version: string | null = null;
  const t = transport as Transport & { setProtocolVersion?: (v: string) => void };
  const original = t.setProtocolVersion?.bind(t);
  t.setProtocolVersion = (v: string) => {
    version = v;
    original?.(v);
  };
  return () => version;
}

async function listAll<T>(fetchPage: (cursor?: string) => Promise<{ nextCursor?: string } & T>, pick: (page: T) => unknown[]): Promise<McpItem[]> {
  const out: McpItem[] = [];
  let cursor: string | undefined;
  const seen = new Set<string>();
  for (let i = 0; i < MAX_PAGES; i++) {
    const page = await fetchPage(cursor);
    out.push(...(pick(page) as McpItem[]));
    if (!page.nextCursor || seen.has(page.nextCursor)) break;
    seen.add(page.nextCursor);
    cursor = page.nextCursor;
  }
  return out;
}

/** A list the server announced but does not implement counts as empty. */
async function optional(p: Promise<McpItem[]>): Promise<McpItem[]> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof McpError && err.code === ErrorCode.MethodNotFound) return [];
    throw err;
  }
}

/** A short, secret-free description of why listing failed. */
export function describeError(err: unknown, timeoutMs: number): string {
  if (err instanceof Deadline) return `timed out after ${timeoutMs} ms`;
  if (err instanceof McpError && err.code === ErrorCode.RequestTimeout) return `timed out after ${timeoutMs} ms`;
  if (err instanceof StreamableHTTPError) return `HTTP ${err.code ?? "error"} from upstream: ${trim(err.message)}`;
  const e = err as { message?: string; cause?: { message?: string; code?: string } } | null;
  const cause = e?.cause?.message ?? e?.cause?.code;
  return trim(`${e?.message ?? String(err)}${cause ? ` (${cause})` : ""}`);
}

function trim(s: string): string {
  return s.length > 300 ? s.slice(0, 297) + "..." : s;
}

async function listWith(kind: "streamable-http" | "sse", target: UpstreamTarget, timeoutMs: number, closers: (() => Promise<void>)[]) {
  const client = newClient();
  const transport = transportFor(kind, target);
  const version = watchVersion(transport);
  closers.push(async () => {
    if (transport instanceof StreamableHTTPClientTransport && transport.sessionId) await transport.terminateSession().catch(() => {});
    await client.close().catch(() => {});
  });
  const opts = { timeout: timeoutMs };
  await client.connect(transport, opts);
  const caps = (client.getServerCapabilities() ?? {}) as Record<string, unknown>;
  // Raw requests with loose result schemas: the SDK's own list helpers drop fields they do not
  // know (vendor extensions, newer spec fields), and items are stored exactly as listed.
  const list = (method: ListMethod) => listAll((cursor) => client.request({ method, params: cursor ? { cursor } : {} }, ListPage, opts), (p) => p[LIST_KEYS[method]] ?? []);
  const [tool, prompt, resource, resource_template] = await Promise.all([
    caps.tools ? list("tools/list") : [],
    caps.prompts ? optional(list("prompts/list")) : [],
    caps.resources ? optional(list("resources/list")) : [],
    caps.resources ? optional(list("resources/templates/list")) : [],
  ]);
  const items: ItemsByKind = { tool, prompt, resource, resource_template };
  return {
    items,
    protocolVersion: version(),
    serverInfo: (client.getServerVersion() ?? null) as Record<string, unknown> | null,
    capabilities: caps,
    instructions: client.getInstructions() ?? null,
  };
}

function isHttp4xx(err: unknown): boolean {
  return err instanceof StreamableHTTPError && typeof err.code === "number" && err.code >= 400 && err.code < 500;
}

/**
 * Lists one upstream. Never throws: a failure (refused, timed out, protocol error) comes back as
 * `{ ok: false, error }`. The whole call, fallback included, ends within `timeoutMs` (+ closing).
 * @param timeoutMs UPSTREAM_TIMEOUT_MS (default 10000)
 */
export async function listUpstream(target: UpstreamTarget, timeoutMs: number): Promise<RefreshResult> {
  const started = Date.now();
  const closers: (() => Promise<void>)[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Deadline()), timeoutMs);
  });
  const work = (async () => {
    if (target.transport === "sse") return listWith("sse", target, timeoutMs, closers);
    try {
      return await listWith("streamable-http", target, timeoutMs, closers);
    } catch (err) {
      if (!isHttp4xx(err)) throw err;
      try {
        return await listWith("sse", target, timeoutMs, closers);
      } catch (sseErr) {
        // report both: the Streamable HTTP answer (often the real cause, e.g. 401) first
        throw new Error(`${describeError(err, timeoutMs)}; HTTP+SSE fallback: ${describeError(sseErr, timeoutMs)}`);
      }
    }
  })();
  work.catch(() => {}); // a late failure after the deadline is not unhandled
  try {
    const listed = await Promise.race([work, deadline]);
    return { ok: true, ...listed, latencyMs: Date.now() - started };
  } catch (err) {
    return { ok: false, error: describeError(err, timeoutMs), latencyMs: Date.now() - started };
  } finally {
    clearTimeout(timer);
    // end upstream sessions (supergateway keeps a child per session), but never wait long for it
    await Promise.race([Promise.all(closers.map((c) => c())), new Promise((r) => setTimeout(r, 1000))]);
  }
}
