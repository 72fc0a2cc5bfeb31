/**
 * Lists what one upstream MCP server offers, with the official SDK 2.x client
 * (`@modelcontextprotocol/client`), and finds out which protocol era it speaks:
 *
 * 1. Streamable HTTP in `auto` negotiation: the SDK probes `server/discover` (2026-07-28) and
 *    falls back to `initialize` when the answer is not a recognised modern one;
 * 2. the deprecated HTTP+SSE transport when Streamable HTTP is refused with a 4xx, or when the
 *    server row says `sse`.
 *
 * The era found is stored with the snapshot (server_status) and tried first next time: a legacy
 * verdict younger than {@link ERA_REPROBE_MS} skips the probe (`connect({ prior })`); when the
 * remembered era fails, the whole negotiation runs again at once (the spec's "re-probe when the
 * cached assumption fails"). A modern server is always probed, since `server/discover` is also
 * where its capabilities and instructions come from.
 *
 * Then tools (every page), prompts, resources and resource templates - only what the server's
 * capabilities announce - as raw pages, so items are stored exactly as listed (the SDK's list
 * helpers drop fields they do not know). The server's secret headers (opened by the caller,
 * refresh.ts) are injected on every request; redirects are never followed (they would carry the secrets elsewhere); the
 * whole listing is bounded by one timeout.
 */
import { connect } from "cloudflare:sockets";
import {
  diagnosingFetch,
  NetworkFailure,
  NOT_MCP_HINT,
  statusHint,
  timeoutMessage,
} from "../../../shared/upstream-diagnosis";
import {
  Client,
  SdkError,
  SdkErrorCode,
  SdkHttpError,
  ProtocolError,
  ProtocolErrorCode,
  SSEClientTransport,
  StreamableHTTPClientTransport,
} from "@modelcontextprotocol/client";
import type { FetchLike, Transport } from "@modelcontextprotocol/client";
import { CfWorkerJsonSchemaValidator } from "@modelcontextprotocol/client/validators/cf-worker";
import { z } from "zod";
import type { McpItem } from "../../../shared/catalog.schema";
import { log } from "../../../shared/log";
import type {
  CacheHints,
  DetectedTransport,
  ItemsByKind,
  RefreshResult,
  UpstreamEra,
} from "../../../shared/repos/catalog.repo";

/** What the lister needs of a server: its row, with the secret headers opened. */
export interface UpstreamTarget {
  id: string;
  url: string;
  transport: "streamable-http" | "sse";
  /** Secret headers in plaintext (never a row's stored, sealed form). */
  headers: Record<string, string>;
}

/** The era an upstream was last found in (server_status), tried first. */
export interface EraHint {
  era: UpstreamEra;
  transport: DetectedTransport;
  checkedAt: Date;
}

const CLIENT_INFO = { name: "mcp-gateway-catalog", version: "0.2.0" };
/** Pages followed per list before giving up on a server that never ends its cursor chain. */
const MAX_PAGES = 100;
/** A legacy verdict older than this is checked again by probing (a server may have been upgraded). */
export const ERA_REPROBE_MS = 60 * 60 * 1000;

class Deadline extends Error {}

/** A redirect answered to a request that carries the server's secret headers: never followed. */
export class RedirectRefused extends Error {
  constructor(
    readonly status: number,
    location: string | null,
    from: string,
  ) {
    let where = "elsewhere";
    try {
      if (location) where = new URL(location, from).origin;
    } catch {
      // a broken Location: no origin to name
    }
    super(
      `upstream answered a redirect (HTTP ${status} to ${where}); redirects are not followed, since the request carries the server's stored headers - configure the final URL`,
    );
  }
}

type ListMethod = "tools/list" | "prompts/list" | "resources/list" | "resources/templates/list";
const LIST_KEYS = {
  "tools/list": "tools",
  "prompts/list": "prompts",
  "resources/list": "resources",
  "resources/templates/list": "resourceTemplates",
} as const;
const Items = z.array(z.record(z.string(), z.unknown())).optional();
/** A page of any list: the items kept whole (unknown fields included), the cursor checked. */
const ListPage = z.looseObject({
  tools: Items,
  prompts: Items,
  resources: Items,
  resourceTemplates: Items,
  nextCursor: z.string().optional(),
  ttlMs: z.number().optional(),
  cacheScope: z.string().optional(),
});
type Page = z.infer<typeof ListPage>;

/**
 * The catalog lists as a fully capable client: some servers (server-everything among them) offer
 * tools that need sampling, elicitation or roots only to clients that declare them, and the
 * gateway forwards those requests to clients that do. Nothing is ever asked of this client
 * while it only lists.
 */
const LISTING_CAPABILITIES = { sampling: {}, elicitation: { form: {}, url: {} }, roots: { listChanged: true } };

/** `fetch` that never follows a redirect: a 3xx fails the request (the SDK would follow same-origin ones). */
export function noRedirectFetch(base: FetchLike = (url, init) => fetch(url, init)): FetchLike {
  return async (url, init) => {
    const res = await base(url, { ...init, redirect: "manual" });
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel().catch(() => {});
      throw new RedirectRefused(res.status, res.headers.get("location"), String(url));
    }
    return res;
  };
}

function newClient(negotiate: boolean): Client {
  // Ajv (the SDK's default validator on Node) generates code, which workerd forbids.
  return new Client(CLIENT_INFO, {
    capabilities: LISTING_CAPABILITIES,
    jsonSchemaValidator: new CfWorkerJsonSchemaValidator(),
    versionNegotiation: { mode: negotiate ? "auto" : "legacy" },
    // the catalog only lists: nothing is ever asked of it, so no input_required round is driven
    inputRequired: { autoFulfill: false },
    listMaxPages: MAX_PAGES,
  });
}

/** What one listing learnt about the network: the last diagnosed failure of a request to the upstream. */
interface NetLog {
  last?: NetworkFailure;
}

function transportFor(kind: DetectedTransport, target: UpstreamTarget, net: NetLog): Transport {
  const url = new URL(target.url);
  const requestInit: RequestInit = { headers: { ...target.headers }, redirect: "manual" };
  const diagnosing = diagnosingFetch(connect);
  const fetchImpl = noRedirectFetch(async (u, init) => {
    try {
      return await diagnosing(u, init);
    } catch (err) {
      if (err instanceof NetworkFailure) net.last = err;
      throw err;
    }
  });
  return kind === "sse"
    ? new SSEClientTransport(url, { requestInit, fetch: fetchImpl, eventSourceInit: { fetch: fetchImpl } })
    : new StreamableHTTPClientTransport(url, { requestInit, fetch: fetchImpl });
}

async function listAll(
  fetchPage: (cursor?: string) => Promise<Page>,
  key: (typeof LIST_KEYS)[ListMethod],
): Promise<{ items: McpItem[]; first: Page }> {
  const out: McpItem[] = [];
  let cursor: string | undefined;
  let first: Page | undefined;
  const seen = new Set<string>();
  for (let i = 0; i < MAX_PAGES; i++) {
    const page = await fetchPage(cursor);
    first ??= page;
    out.push(...((page[key] ?? []) as McpItem[]));
    if (!page.nextCursor || seen.has(page.nextCursor)) break;
    seen.add(page.nextCursor);
    cursor = page.nextCursor;
  }
  return { items: out, first: first! };
}

/**
 * Whether `err` says "method not found": a JSON-RPC error on the session era; on 2026-07-28 an
 * HTTP 404 whose body is that JSON-RPC error (the SDK raises it as an HTTP error).
 */
export function isMethodNotFound(err: unknown): boolean {
  if (err instanceof ProtocolError) return err.code === ProtocolErrorCode.MethodNotFound;
  if (!(err instanceof SdkHttpError) || err.status !== 404) return false;
  try {
    const body = JSON.parse(String((err.data as { text?: unknown }).text)) as { error?: { code?: unknown } };
    return body.error?.code === ProtocolErrorCode.MethodNotFound;
  } catch {
    return false;
  }
}

/** A list the server announced but does not implement counts as empty. */
async function optional(p: Promise<{ items: McpItem[]; first?: Page }>): Promise<{ items: McpItem[]; first?: Page }> {
  try {
    return await p;
  } catch (err) {
    if (isMethodNotFound(err)) return { items: [] };
    throw err;
  }
}

/**
 * Why listing failed and what to check, for the health view and the logs: a diagnosed network
 * failure (DNS, refused, TLS; see shared/upstream-diagnosis.ts) as it is, else the description
 * with a hint for the HTTP status or for an answer that is not MCP.
 */
export function explainFailure(err: unknown, timeoutMs: number, net: NetLog = {}): string {
  if (err instanceof Deadline || (err instanceof SdkError && err.code === SdkErrorCode.RequestTimeout))
    return timeoutMessage(timeoutMs);
  const found = net.last ?? causeOf(err, NetworkFailure);
  if (found) return found.message;
  const text = describeError(err, timeoutMs);
  const redirect = err instanceof RedirectRefused || causeOf(err, RedirectRefused);
  if (redirect) return text;
  const http = causeOf(err, SdkHttpError);
  if (http) return `${text} - ${statusHint(http.status)}`;
  if (err instanceof ProtocolError) return text;
  if (/unexpected content type|invalid_union|invalid json|is not valid json|unexpected token|jsonrpc/i.test(text)) {
    const type = /content type: ([^)\s;]+)/i.exec(text)?.[1];
    return `the server answered ${type ? `with content-type ${type}` : "something that is no JSON-RPC message"}: ${NOT_MCP_HINT}`;
  }
  return text;
}

/** `err` or the first of its causes that is a `T`. */
function causeOf<T>(err: unknown, type: abstract new (...args: never[]) => T): T | undefined {
  for (let e = err, i = 0; e && i < 5; e = (e as { cause?: unknown }).cause, i++) if (e instanceof type) return e as T;
  return undefined;
}

/** A short, secret-free description of why listing failed. */
export function describeError(err: unknown, timeoutMs: number): string {
  if (err instanceof Deadline) return `timed out after ${timeoutMs} ms`;
  if (err instanceof SdkError && err.code === SdkErrorCode.RequestTimeout) return `timed out after ${timeoutMs} ms`;
  if (err instanceof RedirectRefused) return err.message;
  const e = err as { message?: string; cause?: unknown; status?: number; code?: unknown } | null;
  if (e?.cause instanceof RedirectRefused) return e.cause.message;
  if (err instanceof SdkHttpError) return trim(`HTTP ${err.status} from upstream: ${err.message}`);
  if (err instanceof ProtocolError) return trim(`upstream error ${err.code}: ${err.message}`);
  const cause = e?.cause as { message?: string; code?: string } | undefined;
  const causeText = cause?.message ?? cause?.code;
  return trim(`${e?.message ?? String(err)}${causeText ? ` (${causeText})` : ""}`);
}

function trim(s: string, max = 300): string {
  return s.length > max ? s.slice(0, max - 3) + "..." : s;
}

function hintOf(page: Page | undefined): { ttlMs?: number; cacheScope?: "public" | "private" } | undefined {
  if (!page || (page.ttlMs === undefined && page.cacheScope === undefined)) return undefined;
  const cacheScope = page.cacheScope === "public" || page.cacheScope === "private" ? page.cacheScope : undefined;
  return { ...(typeof page.ttlMs === "number" ? { ttlMs: page.ttlMs } : {}), ...(cacheScope ? { cacheScope } : {}) };
}

type Listed = Omit<Extract<RefreshResult, { ok: true }>, "ok" | "latencyMs" | "probed">;

/** One attempt on one transport. `prior: "legacy"` skips the modern probe. */
async function listWith(
  kind: DetectedTransport,
  target: UpstreamTarget,
  timeoutMs: number,
  closers: (() => Promise<void>)[],
  net: NetLog,
  prior?: "legacy",
): Promise<Listed> {
  // HTTP+SSE predates the modern era: no probe there
  const client = newClient(kind === "streamable-http" && prior === undefined);
  const transport = transportFor(kind, target, net);
  closers.push(async () => {
    if (transport instanceof StreamableHTTPClientTransport && transport.sessionId)
      await transport.terminateSession().catch(() => {});
    await client.close().catch(() => {});
  });
  const opts = { timeout: timeoutMs };
  await client.connect(transport, prior ? { ...opts, prior: { kind: prior } } : opts);
  const era: UpstreamEra = client.getProtocolEra() === "modern" ? "modern" : "legacy";
  const caps = (client.getServerCapabilities() ?? {}) as Record<string, unknown>;
  // Raw requests with loose result schemas: the SDK's own list helpers drop fields they do not
  // know (vendor extensions, newer spec fields), and items are stored exactly as listed.
  const list = (method: ListMethod) =>
    listAll(
      (cursor) => client.request({ method, params: cursor ? { cursor } : {} }, ListPage, opts),
      LIST_KEYS[method],
    );
  const [tools, prompts, resources, templates] = await Promise.all([
    caps.tools ? list("tools/list") : { items: [] as McpItem[], first: undefined },
    caps.prompts ? optional(list("prompts/list")) : { items: [] as McpItem[], first: undefined },
    caps.resources ? optional(list("resources/list")) : { items: [] as McpItem[], first: undefined },
    caps.resources ? optional(list("resources/templates/list")) : { items: [] as McpItem[], first: undefined },
  ]);
  let toolItems = tools.items;
  let cacheHints: CacheHints | null = null;
  const version = client.getNegotiatedProtocolVersion() ?? null;
  let supportedVersions = version ? [version] : [];
  if (era === "modern") {
    // A Streamable HTTP client MUST leave out tools whose x-mcp-header declarations are invalid
    // (2026-07-28): they could not be called. The SDK's own listing applies that rule.
    const admitted = new Set(
      (await client.listTools(undefined, { ...opts, cacheMode: "bypass" })).tools.map((t) => t.name),
    );
    const dropped = toolItems.filter((t) => !admitted.has(String(t.name)));
    if (dropped.length)
      log.warn("upstream tools left out: invalid x-mcp-header declarations", {
        server: target.id,
        tools: dropped.map((t) => String(t.name)),
      });
    toolItems = toolItems.filter((t) => admitted.has(String(t.name)));
    const discover = client.getDiscoverResult() as
      (Record<string, unknown> & { supportedVersions?: string[] }) | undefined;
    if (Array.isArray(discover?.supportedVersions)) supportedVersions = discover.supportedVersions.map(String);
    const hints: CacheHints = {};
    const discoverHint = hintOf(discover as Page | undefined);
    if (discoverHint) hints["server/discover"] = discoverHint;
    const byMethod: [keyof CacheHints, Page | undefined][] = [
      ["tools/list", tools.first],
      ["prompts/list", prompts.first],
      ["resources/list", resources.first],
      ["resources/templates/list", templates.first],
    ];
    for (const [m, page] of byMethod) {
      const h = hintOf(page);
      if (h) hints[m] = h;
    }
    cacheHints = Object.keys(hints).length ? hints : null;
  }
  const items: ItemsByKind = {
    tool: toolItems,
    prompt: prompts.items,
    resource: resources.items,
    resource_template: templates.items,
  };
  return {
    items,
    protocolVersion: version,
    serverInfo: (client.getServerVersion() ?? null) as Record<string, unknown> | null,
    capabilities: caps,
    instructions: client.getInstructions() ?? null,
    era,
    transport: kind,
    supportedVersions,
    cacheHints,
  };
}

function isHttp4xx(err: unknown): boolean {
  const status = err instanceof SdkHttpError ? err.status : undefined;
  return typeof status === "number" && status >= 400 && status < 500;
}

/** The whole negotiation: Streamable HTTP in auto mode, then HTTP+SSE on a 4xx. */
async function negotiate(
  target: UpstreamTarget,
  timeoutMs: number,
  closers: (() => Promise<void>)[],
  net: NetLog,
): Promise<Listed> {
  if (target.transport === "sse") return listWith("sse", target, timeoutMs, closers, net);
  try {
    return await listWith("streamable-http", target, timeoutMs, closers, net);
  } catch (err) {
    if (!isHttp4xx(err)) throw err;
    try {
      return await listWith("sse", target, timeoutMs, closers, net);
    } catch (sseErr) {
      // report both: the Streamable HTTP answer (often the real cause, e.g. 401) first; the
      // cause keeps its status for the hint
      throw new Error(`${describeError(err, timeoutMs)}; HTTP+SSE fallback: ${describeError(sseErr, timeoutMs)}`, {
        cause: err,
      });
    }
  }
}

/** Whether to trust the remembered era instead of probing: a recent legacy verdict. */
export function trustedHint(
  hint: EraHint | null | undefined,
  target: UpstreamTarget,
  now = Date.now(),
): EraHint | null {
  if (!hint || hint.era !== "legacy") return null;
  if (now - hint.checkedAt.getTime() > ERA_REPROBE_MS) return null;
  if (target.transport === "sse" && hint.transport !== "sse") return null;
  return hint;
}

/**
 * Lists one upstream. Never throws: a failure (refused, timed out, protocol error) comes back as
 * `{ ok: false, error }`. The whole call, fallbacks included, ends within `timeoutMs` (+ closing).
 * @param timeoutMs UPSTREAM_TIMEOUT_MS (default 10000)
 * @param hint the era found last time (server_status); see {@link trustedHint}
 */
export async function listUpstream(
  target: UpstreamTarget,
  timeoutMs: number,
  hint?: EraHint | null,
): Promise<RefreshResult> {
  const started = Date.now();
  const closers: (() => Promise<void>)[] = [];
  const net: NetLog = {};
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Deadline()), timeoutMs);
  });
  const work = (async (): Promise<Listed & { probed: boolean }> => {
    const trusted = trustedHint(hint, target);
    if (trusted) {
      try {
        return {
          ...(await listWith(
            trusted.transport,
            target,
            timeoutMs,
            closers,
            net,
            trusted.transport === "streamable-http" ? "legacy" : undefined,
          )),
          probed: false,
        };
      } catch (err) {
        if (err instanceof Deadline) throw err;
        log.info("remembered upstream era failed; probing again", {
          server: target.id,
          era: trusted.era,
          transport: trusted.transport,
          error: describeError(err, timeoutMs),
        });
      }
    }
    net.last = undefined; // the probe's own failures are what the admin needs to read
    return { ...(await negotiate(target, timeoutMs, closers, net)), probed: true };
  })();
  work.catch(() => {}); // a late failure after the deadline is not unhandled
  try {
    const listed = await Promise.race([work, deadline]);
    return { ok: true, ...listed, latencyMs: Date.now() - started };
  } catch (err) {
    return { ok: false, error: explainFailure(err, timeoutMs, net), latencyMs: Date.now() - started };
  } finally {
    clearTimeout(timer);
    // end upstream sessions (supergateway keeps a child per session), but never wait long for it
    await Promise.race([Promise.all(closers.map((c) => c())), new Promise((r) => setTimeout(r, 1000))]);
  }
}
