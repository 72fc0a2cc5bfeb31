/**
 * The secret headers of an upstream, fetched when the gateway forwards to it: catalog answers
 * never carry them (a catalog answer says only whether a server has any, and their version).
 *
 * {@link upstreamTarget} turns a catalog server into what the upstream adapters send to (http.ts,
 * legacy-sse.upstream.ts): its id, URL, transport and the headers to inject. A server
 * without secret headers costs nothing; otherwise the catalog is asked
 * (`GET /internal/credentials/:email/servers/:server`, service-authenticated, answered only for
 * a user who may use the server) and the answer is kept per isolate for
 * {@link CREDENTIALS_TTL_MS}, and only while its version is the one the user's current catalog
 * names: a change of the headers moves the version, so the next forward fetches the new ones.
 * Only plain data is cached (each request does its own fetch: workerd ties I/O to a request).
 * Per-user servers (the user's own token) are asked each time and never cached; without a
 * connection the catalog answers 409 and {@link NotConnectedError} is thrown.
 */
import { BoundedLru } from "../../../../shared/cache/lru";
import type { CatalogServer } from "../catalog.client";
import { UpstreamFailure, type UpstreamTarget } from "./http";

/** Longest time fetched credentials are used without asking the catalog again (ms). */
export const CREDENTIALS_TTL_MS = 60_000;

interface Cached {
  version: string;
  headers: Readonly<Record<string, string>>;
  fetchedAt: number;
}

/** Per isolate: credentials by user and server. */
const cache = new BoundedLru<Cached>(2000, 2000);

/** Per isolate: how credentials were obtained (tests, benchmarks). */
export const credentialsStats = { none: 0, cached: 0, fetched: 0 };

/** Forgets this isolate's cached credentials (tests). */
export function clearCredentialsCache(): void {
  cache.clear();
}

const NONE: Readonly<Record<string, string>> = Object.freeze({});

/**
 * A per-user server (shared/credentials.ts) for which the user has no usable credential: they
 * never connected, their token expired past refreshing, or the upstream refused it after a
 * refresh. The bridge answers with the connect link (bridge.ts#connectPrompt).
 */
export class NotConnectedError extends UpstreamFailure {
  constructor(
    server: string,
    readonly reason: string,
  ) {
    super(server, `you have not connected your account for ${server}${reason === "none" ? "" : ` (${reason})`}`);
  }
}

/**
 * What to send to `server` on behalf of `email`: the server's address with its secret headers.
 * Throws {@link UpstreamFailure} (a JSON-RPC error for the request, as any upstream failure)
 * when the catalog cannot give them; the message names the server, never a value.
 * @param catalog the catalog binding with the service assertion (catalog.client.ts#catalogFetcher)
 */
export async function upstreamTarget(
  catalog: Fetcher,
  email: string,
  server: CatalogServer,
  opts: { refresh?: boolean } = {},
): Promise<UpstreamTarget> {
  const target = {
    id: server.id,
    url: server.url,
    transport: (server.detectedTransport ?? server.transport) === "sse" ? "sse" : "streamable-http",
  } as const;
  const wanted = server.credentials?.version;
  if (!wanted) {
    credentialsStats.none++;
    return { ...target, headers: NONE };
  }
  // a per-user answer changes when the user connects or a token is refreshed: never cached
  const perUser = !!server.credentials?.perUser;
  const key = `${email.toLowerCase()}\u0000${server.id}`;
  const hit = perUser ? undefined : cache.get(key);
  if (hit && hit.version === wanted && Date.now() - hit.fetchedAt < CREDENTIALS_TTL_MS) {
    credentialsStats.cached++;
    return { ...target, headers: hit.headers };
  }
  let res: Response;
  try {
    res = await catalog.fetch(
      `https://catalog.internal/internal/credentials/${encodeURIComponent(email)}/servers/${encodeURIComponent(server.id)}${opts.refresh ? "?refresh=1" : ""}`,
    );
  } catch (err) {
    throw new UpstreamFailure(
      server.id,
      `the credentials of upstream ${server.id} are unavailable: catalog unreachable (${String((err as Error)?.message ?? err)})`,
    );
  }
  if (res.status === 409 && perUser) {
    const why = (await res.json().catch(() => null)) as { error?: unknown; reason?: unknown } | null;
    if (why?.error === "not_connected")
      throw new NotConnectedError(server.id, typeof why.reason === "string" ? why.reason : "none");
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => {});
    throw new UpstreamFailure(
      server.id,
      `the credentials of upstream ${server.id} are unavailable (catalog answered ${res.status})`,
    );
  }
  const body = (await res.json().catch(() => null)) as { version?: unknown; headers?: unknown } | null;
  const headers = body?.headers;
  if (
    !body ||
    typeof body.version !== "string" ||
    !headers ||
    typeof headers !== "object" ||
    Object.values(headers).some((v) => typeof v !== "string")
  ) {
    throw new UpstreamFailure(
      server.id,
      `the credentials of upstream ${server.id} are unavailable (catalog answer malformed)`,
    );
  }
  const frozen = Object.freeze({ ...(headers as Record<string, string>) });
  credentialsStats.fetched++;
  if (!perUser) cache.set(key, { version: body.version, headers: frozen, fetchedAt: Date.now() }, 1);
  return { ...target, headers: frozen };
}
