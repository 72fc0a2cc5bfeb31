/**
 * The pin of a reviewed tool, checked at call time (issue 15). A server under review (`hold`,
 * `findings`) serves each tool in an approved definition, pinned by its content hash
 * (shared/repos/item-hash.ts, the hash the catalog stores). The catalog's last listing may be
 * minutes old, so before a `tools/call` goes out the bridge lists the tool upstream - over the
 * same adapter, credentials and upstream session the call then uses, every page until the tool
 * turns up - and forwards only while that definition hashes to the pin. Anything else (another
 * definition, the tool gone, a listing that does not parse) refuses the call as under review and
 * has the catalog re-list the server, so the change reaches the admins' review queue.
 *
 * Servers under `auto` never come here: they pay nothing. A held server pays one `tools/list`
 * round trip (more when the tool is on a later page) per call; see the README's design notes.
 */
import { itemHash } from "../../../../shared/repos/item-hash";
import {
  INVALID_PARAMS,
  resultResponse,
  rpcError,
  UPSTREAM_ERROR,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from "../../../../shared/mcp/jsonrpc";
import type { CatalogServer } from "../catalog.client";
import type { Upstream, UpstreamCall } from "../upstream/upstream";

/** Pages of tools/list read at most while looking for the tool (a server that pages forever is refused). */
export const MAX_PIN_PAGES = 100;

/** Whether calls to `server`'s tools are checked against their pins. */
export function pinned(server: Pick<CatalogServer, "review">): boolean {
  return server.review !== undefined && server.review !== "auto";
}

/** The approved hash of upstream tool `name` of `server` (undefined: none, so nothing may be forwarded). */
export function pinOf(server: Pick<CatalogServer, "pins">, name: string): string | undefined {
  return server.pins?.find(([n]) => n === name)?.[1];
}

/** Tool results refusing a call because the tool is under review, so the dispatcher audits them as refusals. */
export const reviewRefusals = new WeakSet<object>();

/**
 * The tool result of a call refused because the tool is under review (`name`: as the client
 * called it): `isError`, in both eras, never a JSON-RPC error (the client's model should see it).
 */
export function underReview(id: JsonRpcRequest["id"], name: string): JsonRpcResponse {
  const res = resultResponse(id, {
    content: [
      {
        type: "text",
        text: `Tool ${name} is under review: its definition changed upstream and awaits an administrator's approval. It cannot be called until then.`,
      },
    ],
    isError: true,
  });
  reviewRefusals.add(res);
  return res;
}

/**
 * The JSON-RPC error refusing `prompts/get` or a resource read because that prompt, resource or
 * template is under review (the upstream lists another definition than the approved one).
 */
export function itemUnderReview(id: JsonRpcRequest["id"], what: string): JsonRpcResponse {
  return rpcError(
    id,
    INVALID_PARAMS,
    `${what} is under review: its definition changed upstream and awaits an administrator's approval. It cannot be used until then.`,
    { reason: "under_review" },
  );
}

/** What the upstream serves of a pinned tool now. */
export type PinCheck =
  | { kind: "served" }
  /** Another definition (`found`: the tool is listed; else it is gone). */
  | { kind: "changed"; found: boolean }
  /** The listing failed: the upstream's error response, to pass on (a per-user 401 is retried by the bridge). */
  | { kind: "failed"; response: JsonRpcResponse };

/**
 * Lists `name` at the upstream of `call` through `adapter` and compares its hash with `hash`.
 * The listing is the gateway's own request: nothing of it reaches the client (no notifications,
 * no server-to-client requests - an upstream asking something while it lists is left
 * unanswered until its timeout, as a listing never needs an answer).
 */
export async function checkPin(adapter: Upstream, call: UpstreamCall, name: string, hash: string): Promise<PinCheck> {
  // not the client's answer: its JSON-or-stream choice waits for the call itself; and a
  // session-era stream the upstream closes early is resumed here, not by the client
  const own: UpstreamCall = { ...call, onAnswer: undefined, client: { ...call.client, canReceiveRequests: false } };
  let cursor: string | undefined;
  const seen = new Set<string>();
  for (let page = 0; page < MAX_PIN_PAGES; page++) {
    const req: JsonRpcRequest = {
      jsonrpc: "2.0",
      id: `mcpgw-pin-${crypto.randomUUID()}`,
      method: "tools/list",
      params: cursor !== undefined ? { cursor } : {},
    };
    let res: JsonRpcResponse | undefined;
    for await (const r of adapter.send(own, req)) if (r.kind === "response") res = r.message;
    if (!res)
      return {
        kind: "failed",
        response: rpcError(req.id, UPSTREAM_ERROR, `Upstream ${call.server.id} did not answer tools/list`),
      };
    if (res.error) return { kind: "failed", response: res };
    const tools = res.result?.tools;
    if (!Array.isArray(tools)) return { kind: "changed", found: false };
    const tool = tools.find((t) => t && typeof t === "object" && (t as Record<string, unknown>).name === name);
    if (tool) return (await itemHash(tool)) === hash ? { kind: "served" } : { kind: "changed", found: true };
    const next = res.result?.nextCursor;
    if (typeof next !== "string" || seen.has(next)) return { kind: "changed", found: false };
    seen.add(next);
    cursor = next;
  }
  return { kind: "changed", found: false };
}
