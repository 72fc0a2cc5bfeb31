/**
 * The per-user pool of parked upstream sessions (session-era upstreams, migration 0015).
 *
 * Open WebUI opens a new MCP session every chat turn (initialize, tools/list, tools/call,
 * DELETE). Without the pool each of those opens a new upstream session per server it reaches
 * (initialize + notifications/initialized upstream) and ends it upstream at DELETE. With it, a
 * session-era client's upstream session is *parked* when its downstream session ends, and the same
 * user's next downstream session *adopts* it instead of opening one:
 * - the pool key digests the user (email and groups), the server (id, URL, credentials version)
 *   and what the session was opened with (the client's protocol version, capabilities and info),
 *   so two users never share an upstream session, and a changed grant, credential or client never
 *   reuses one;
 * - a session through which a request went that leaves state upstream (see {@link isStateful})
 *   is never parked, nor one with a request in flight in this isolate; the session's GET streams in
 *   this isolate are closed before it is parked;
 * - parking is part of the statement that ends the session; adoption is one `DELETE ... RETURNING`
 *   (two requests never adopt the same session); a pool key keeps POOL_KEEP sessions, and those
 *   older than MCP_SESSION_POOL_SECONDS are never adopted and are ended upstream when seen;
 * - an adopted session the upstream forgot (404) is replaced by a new one transparently (the
 *   adapter's usual re-open).
 * Everything lives in Postgres (any replica adopts what another parked); this module keeps only
 * per-isolate bookkeeping of requests and streams in flight.
 */
import { canonicalJson } from "../../../../shared/canonical";
import { sha256Hex } from "../../../../shared/crypto";
import type { JsonRpcRequest } from "../../../../shared/mcp/jsonrpc";
import type { UpstreamCall } from "./upstream";

/** Methods that leave state in the upstream session (its next user would inherit it). */
const STATEFUL = new Set([
  "resources/subscribe",
  "resources/unsubscribe",
  "logging/setLevel",
  "tasks/get",
  "tasks/result",
  "tasks/list",
  "tasks/cancel",
]);

/** Whether a request leaves state in the upstream session: a stateful method, or a task-augmented request. */
export function isStateful(req: JsonRpcRequest): boolean {
  return STATEFUL.has(req.method) || (req.params !== undefined && req.params.task !== undefined);
}

/** Whether a call's upstream session may be parked and adopted: a session-era client's downstream session, with the pool on. */
export function pooled(
  call: Pick<UpstreamCall, "sid" | "client" | "env">,
): call is Pick<UpstreamCall, "client" | "env"> & { sid: string } {
  return call.env.MCP_SESSION_POOL_SECONDS > 0 && typeof call.sid === "string" && call.client.era === "legacy";
}

/** The version of the server's credentials the gateway sends ('' = none). */
export function credentialsVersionOf(call: Pick<UpstreamCall, "server">): string {
  return call.server.credentials?.version ?? "";
}

/** The pool key of a call's upstream session (null: not pooled). */
export async function poolKeyOf(
  call: UpstreamCall,
  opened: { version: string; caps: Record<string, unknown>; info?: Record<string, unknown> },
): Promise<string | null> {
  if (!pooled(call)) return null;
  const key = canonicalJson({
    email: call.identity.email.toLowerCase(),
    groups: [...call.identity.groups].sort(),
    server: call.server.id,
    url: call.target.url,
    transport: call.target.transport,
    credentials: credentialsVersionOf(call),
    version: opened.version,
    caps: opened.caps,
    info: opened.info ?? null,
  });
  return `p1.${await sha256Hex(key)}`;
}

const k = (sid: string, server: string) => `${sid}\u0000${server}`;

/** Per isolate: requests in flight per downstream session and server. */
const inFlight = new Map<string, number>();

/** Counts a request in flight on `sid`'s upstream session of `server`; returns its end. */
export function enter(sid: string, server: string): () => void {
  const key = k(sid, server);
  // bounded: a generator dropped without unwinding leaves a count behind (its session is merely not parked)
  if (inFlight.size >= 10_000 && !inFlight.has(key)) inFlight.delete(inFlight.keys().next().value!);
  inFlight.set(key, (inFlight.get(key) ?? 0) + 1);
  let left = false;
  return () => {
    if (left) return;
    left = true;
    const n = (inFlight.get(key) ?? 1) - 1;
    if (n <= 0) inFlight.delete(key);
    else inFlight.set(key, n);
  };
}

/** The servers of `sid` with a request in flight in this isolate. */
export function busyServers(sid: string, servers: string[]): string[] {
  return servers.filter((s) => (inFlight.get(k(sid, s)) ?? 0) > 0);
}

/**
 * Per isolate: the GET streams of each downstream session, as wake-ups (closed when the session
 * ends). A wake-up only resolves a promise of the stream's own request, which then closes the
 * stream itself: a request must not touch another request's I/O objects (workerd).
 */
const streams = new Map<string, Set<() => void>>();

/** Registers a GET stream of `sid`: `close` is called when the session ends; returns the removal. */
export function registerStream(sid: string, close: () => void): () => void {
  const set = streams.get(sid) ?? new Set<() => void>();
  streams.set(sid, set);
  set.add(close);
  return () => {
    set.delete(close);
    if (set.size === 0 && streams.get(sid) === set) streams.delete(sid);
  };
}

/** Closes this isolate's GET streams of an ended session (their upstream sessions may be parked). */
export function closeStreams(sid: string): void {
  const set = streams.get(sid);
  streams.delete(sid);
  for (const close of set ?? []) close();
}

/** Per isolate: upstream sessions adopted lately (usid -> when), whose previous GET stream may still be closing. */
const adoptedAt = new Map<string, number>();
/** How long after an adoption a 409 on GET is taken for the previous stream still closing (ms). */
export const ADOPTED_GRACE_MS = 3_000;

export function noteAdopted(usid: string): void {
  if (adoptedAt.size >= 5_000) adoptedAt.delete(adoptedAt.keys().next().value!);
  adoptedAt.set(usid, Date.now());
}

/** Whether `usid` was adopted within {@link ADOPTED_GRACE_MS}. */
export function adoptedLately(usid: string | null): boolean {
  const at = usid ? adoptedAt.get(usid) : undefined;
  return at !== undefined && Date.now() - at < ADOPTED_GRACE_MS;
}
