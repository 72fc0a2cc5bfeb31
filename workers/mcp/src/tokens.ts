/**
 * Encrypted, user-bound tokens that carry MCP state on the wire instead of in memory: the
 * downstream `Mcp-Session-Id`, the ids of server-to-client requests relayed to a client, the
 * `requestState` of MRTR results, resumable SSE event ids and task ids.
 * AES-256-GCM with a key derived (HKDF-SHA-256) from SESSION_SECRET; each kind of token has its
 * own additional data, so one can never be replayed as the other. Any replica with the same
 * secret reads them; a tampered, foreign or other-user token simply fails to open.
 */
import { z } from "zod";
import { VersionedCache } from "../../../shared/cache/versioned";

const enc = new TextEncoder();
const dec = new TextDecoder();
const keys = new Map<string, Promise<CryptoKey>>();

function key(secret: string): Promise<CryptoKey> {
  let k = keys.get(secret);
  if (!k) {
    k = crypto.subtle
      .importKey("raw", enc.encode(secret), "HKDF", false, ["deriveKey"])
      .then((base) =>
        crypto.subtle.deriveKey(
          { name: "HKDF", hash: "SHA-256", salt: enc.encode("mcp-gateway"), info: enc.encode("mcp-session-token-v1") },
          base,
          { name: "AES-GCM", length: 256 },
          false,
          ["encrypt", "decrypt"],
        ),
      );
    keys.set(secret, k);
  }
  return k;
}

function b64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function unb64url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]+$/.test(text)) return null;
  try {
    const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

/**
 * `deterministic` derives the IV from the payload (SHA-256 of secret, purpose and payload), so the
 * same payload always yields the same token - needed where the client must recognise a value it
 * saw before (a relayed request id named again by a later cancellation).
 */
async function seal(secret: string, purpose: string, payload: unknown, deterministic = false): Promise<string> {
  const plain = enc.encode(JSON.stringify(payload));
  const iv = deterministic
    ? new Uint8Array(
        await crypto.subtle.digest("SHA-256", enc.encode(`${secret}\u0000${purpose}\u0000${JSON.stringify(payload)}`)),
      ).slice(0, 12)
    : crypto.getRandomValues(new Uint8Array(12));
  const ct = new Uint8Array(
    await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: enc.encode(purpose) }, await key(secret), plain),
  );
  const out = new Uint8Array(iv.length + ct.length);
  out.set(iv);
  out.set(ct, iv.length);
  return b64url(out);
}

async function open(secret: string, purpose: string, token: string): Promise<unknown> {
  const raw = unb64url(token);
  if (!raw || raw.length < 12 + 16) return null;
  try {
    const pt = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: raw.slice(0, 12), additionalData: enc.encode(purpose) },
      await key(secret),
      raw.slice(12),
    );
    return JSON.parse(dec.decode(pt));
  } catch {
    return null;
  }
}

/** What a downstream session needs, carried inside its `Mcp-Session-Id`. */
export const SessionState = z.object({
  /** Random session id (the key of the upstream-session rows). */
  sid: z.string(),
  /** Owner; a token presented by anyone else is unknown (404). */
  email: z.string(),
  /** The endpoint it was opened on: a server id, or "*" for the aggregate /mcp. */
  scope: z.string(),
  /** Negotiated protocol version. */
  v: z.string(),
  /** The client's declared capabilities (decides which server-to-client requests it may get). */
  caps: z.record(z.string(), z.unknown()),
  /** The client's clientInfo, passed on when upstream sessions are opened. */
  info: z.object({ name: z.string(), version: z.string() }).optional(),
  /** Issued at (epoch seconds). */
  iat: z.number(),
});
export type SessionState = z.infer<typeof SessionState>;

/** Prefix of session tokens (lets operators recognise them in logs). */
const SESSION_PREFIX = "mcpgw1.";

/** Encrypts a session into an `Mcp-Session-Id` value (visible ASCII only, as the spec requires). */
export async function sealSession(secret: string, state: SessionState): Promise<string> {
  return SESSION_PREFIX + (await seal(secret, "mcp-session", state));
}

/** Sessions opened in this isolate, by exact token text: a session's later requests skip the decryption. */
const opened = new VersionedCache<SessionState>(10_000);

/** Opens an `Mcp-Session-Id`; null when forged, damaged or made with another secret. */
export async function openSession(secret: string, token: string): Promise<SessionState | null> {
  if (!token.startsWith(SESSION_PREFIX) || token.length > 8192) return null;
  const memo = `${secret}\u0000${token}`;
  const hit = opened.get(memo, 0);
  if (hit) return hit;
  const parsed = SessionState.safeParse(await open(secret, "mcp-session", token.slice(SESSION_PREFIX.length)));
  if (!parsed.success) return null;
  // shared by every request of the session: never changed in place
  opened.set(memo, Object.freeze(parsed.data), 0);
  return parsed.data;
}

/** Where the answer to a relayed server-to-client request goes (upstream/upstream.ts ReplyTo). */
const Reply = z.object({
  server: z.string(),
  via: z.enum(["session", "legacy-sse"]),
  usid: z.string().nullable(),
  uv: z.string(),
});

/**
 * A relayed server-to-client request, carried inside the id the client sees: `up` came from a
 * session-era upstream (the answer is posted into its session); `mrtr` was made by the gateway
 * from a modern upstream's `input_required` (the answer goes to the request waiting for it).
 */
export const RelayedId = z.discriminatedUnion("k", [
  z.object({
    k: z.literal("up"),
    /** Downstream session id and owner it was issued to. */
    sid: z.string(),
    email: z.string(),
    reply: Reply,
    /** The upstream's own request id. */
    id: z.union([z.string(), z.number()]),
  }),
  z.object({
    k: z.literal("mrtr"),
    sid: z.string(),
    email: z.string(),
    /** Mailbox of the waiting request, and the input request's key. */
    box: z.string(),
    key: z.string(),
  }),
]);
export type RelayedId = z.infer<typeof RelayedId>;

const RELAY_PREFIX = "mcpgw-req.";

/** Wraps a relayed request's origin into the id the client sees (deterministic: a later cancellation names the same id). */
export async function sealRelayedId(secret: string, r: RelayedId): Promise<string> {
  return RELAY_PREFIX + (await seal(secret, "mcp-relayed-id", r, true));
}

/** Whether an id looks like one the gateway issued (then it must open, or the message is refused). */
export function isRelayedId(id: unknown): id is string {
  return typeof id === "string" && id.startsWith(RELAY_PREFIX);
}

/** Opens a relayed id; null when forged or damaged. */
export async function openRelayedId(secret: string, token: string): Promise<RelayedId | null> {
  if (!isRelayedId(token) || token.length > 8192) return null;
  const parsed = RelayedId.safeParse(await open(secret, "mcp-relayed-id", token.slice(RELAY_PREFIX.length)));
  return parsed.success ? parsed.data : null;
}

/**
 * The `requestState` the gateway gives a modern client with an `input_required` result. Bound to
 * the user, the endpoint, the request (method and a digest of its salient parameters) and a short
 * lifetime; what it carries depends on where the need came from:
 * - `upstream`: a modern upstream's own `input_required` (its opaque state, passed back on retry);
 * - `parked`: a session-era upstream's server-to-client request(s): the request still runs
 *   upstream, its later messages go to mailbox `box`, the answers go to `pending`;
 * - `connect`: the gateway asked the user to connect their account for a per-user server (a
 *   URL-mode elicitation); nothing ran upstream, the retry is simply sent as that user.
 */
export const RequestState = z.object({
  email: z.string(),
  scope: z.string(),
  method: z.string(),
  digest: z.string(),
  /** Expires (epoch seconds). */
  exp: z.number(),
  server: z.string(),
  src: z.discriminatedUnion("k", [
    z.object({ k: z.literal("upstream"), state: z.string().optional() }),
    /** The gateway's own: the user was asked to connect their account for `server` (per-user credentials). */
    z.object({ k: z.literal("connect") }),
    z.object({
      k: z.literal("parked"),
      box: z.string(),
      pending: z.array(z.object({ key: z.string(), reply: Reply, id: z.union([z.string(), z.number()]) })),
    }),
  ]),
});
export type RequestState = z.infer<typeof RequestState>;

const STATE_PREFIX = "mcpgw-state.";

export async function sealRequestState(secret: string, s: RequestState): Promise<string> {
  return STATE_PREFIX + (await seal(secret, "mcp-request-state", s));
}

/** Opens a request state; null when forged, damaged or made with another secret (expiry and binding are the caller's checks). */
export async function openRequestState(secret: string, token: unknown): Promise<RequestState | null> {
  if (typeof token !== "string" || !token.startsWith(STATE_PREFIX) || token.length > 65536) return null;
  const parsed = RequestState.safeParse(await open(secret, "mcp-request-state", token.slice(STATE_PREFIX.length)));
  return parsed.success ? parsed.data : null;
}

/**
 * An SSE event id the gateway gives a session-era client for an upstream's resumable event: it
 * names the downstream session, the upstream session and the upstream's own event id, so a
 * `GET` with `Last-Event-ID` can continue the upstream's stream on any replica.
 */
export const EventId = z.object({
  sid: z.string(),
  server: z.string(),
  usid: z.string().nullable(),
  uv: z.string(),
  eid: z.string(),
});
export type EventId = z.infer<typeof EventId>;

const EVENT_PREFIX = "mcpgw-ev.";

export async function sealEventId(secret: string, e: EventId): Promise<string> {
  return EVENT_PREFIX + (await seal(secret, "mcp-event-id", e, true));
}

export async function openEventId(secret: string, token: string): Promise<EventId | null> {
  if (!token.startsWith(EVENT_PREFIX) || token.length > 8192) return null;
  const parsed = EventId.safeParse(await open(secret, "mcp-event-id", token.slice(EVENT_PREFIX.length)));
  return parsed.success ? parsed.data : null;
}

/** A task id as the client sees it: the upstream's task id bound to the user and server (Tasks extension). */
export const TaskId = z.object({ email: z.string(), server: z.string(), id: z.string() });
export type TaskId = z.infer<typeof TaskId>;

const TASK_PREFIX = "mcpgw-task.";

/** Deterministic: the same upstream task always has the same id for the client. */
export async function sealTaskId(secret: string, t: TaskId): Promise<string> {
  return TASK_PREFIX + (await seal(secret, "mcp-task-id", t, true));
}

export async function openTaskId(secret: string, token: unknown): Promise<TaskId | null> {
  if (typeof token !== "string" || !token.startsWith(TASK_PREFIX) || token.length > 8192) return null;
  const parsed = TaskId.safeParse(await open(secret, "mcp-task-id", token.slice(TASK_PREFIX.length)));
  return parsed.success ? parsed.data : null;
}
