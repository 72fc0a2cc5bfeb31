/**
 * Why an upstream could not be reached, in words an admin can act on. workerd's `fetch` reports a
 * failed DNS lookup and a failed TLS handshake alike as `internal error; reference = ...`, and a
 * refused connection as `Network connection lost.`: the real reason is only in workerd's own log.
 * {@link diagnoseFetchError} tells them apart with one TCP connection attempt to the host and
 * port (the `connect` of `cloudflare:sockets`, passed in by the worker): no connection and a host
 * name is DNS (a refused port answers `Network connection lost.` to fetch instead), a connection
 * that opens where https failed is TLS. {@link statusHint} and {@link NOT_MCP_HINT} say what to
 * check for an HTTP status and for an answer that is no MCP. Messages name host and port only
 * (never the path, a query or a header), and only where `revealAddress` allows: the admin's health
 * view names them, a client's error does not (the upstream's address is the operator's business).
 */

/** What kind of failure it was (the words lead the message). */
export type FailureKind = "dns" | "refused" | "tls" | "unreachable" | "dropped" | "timeout" | "http" | "not_mcp";

/** The `connect` of `cloudflare:sockets`, as far as the diagnosis needs it. */
export type Connect = (address: { hostname: string; port: number }) => {
  opened: Promise<unknown>;
  close(): Promise<void> | void;
};

/** A network failure of a request to an upstream, with the diagnosis as its message. */
export class NetworkFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
  ) {
    super(message);
    this.name = "NetworkFailure";
  }
}

/** What to check for a refused, unresolvable, dropped or unreachable upstream. */
const CHECKS: Record<Exclude<FailureKind, "http" | "not_mcp" | "timeout">, (where: string, host: string) => string> = {
  dns: (_w, host) =>
    `DNS lookup of ${host} failed - check the host name in the server's URL and that the gateway's DNS resolves it`,
  refused: (where) =>
    `connection refused by ${where} - nothing listens there: check the URL's port and that the server is running`,
  tls: (where, host) =>
    `TLS handshake with ${where} failed - check that the server speaks https on this port (use http:// if it does not) and that its certificate is valid for ${host}`,
  unreachable: (where) =>
    `cannot connect to ${where} - check the URL's host and port and the network between the gateway and the server`,
  dropped: (where) =>
    `${where} closed the connection without an answer - check that the URL points at an MCP server, and the server's logs`,
};

/** A timeout, with what to check. */
export function timeoutMessage(ms: number): string {
  return `timed out after ${ms} ms - the server accepted the connection but did not answer: check that it is an MCP server and not overloaded (UPSTREAM_TIMEOUT_MS sets the bound)`;
}

/** What to check for an answer that is not MCP (HTML, JSON that is no JSON-RPC, an unexpected content type). */
export const NOT_MCP_HINT =
  "not an MCP endpoint - check the URL's path (MCP servers usually answer on /mcp, or /sse for HTTP+SSE)";

/** What to check for an HTTP status an upstream answered instead of MCP. */
export function statusHint(status: number): string {
  if (status === 401 || status === 403)
    return "check the server's stored headers (its credential): the upstream refused them";
  if (status === 404 || status === 405)
    return "check the URL's path (MCP servers usually answer on /mcp, or /sse for HTTP+SSE)";
  if (status === 429) return "the upstream limits requests: try again later or raise its limit";
  if (status >= 500) return "the upstream itself failed: check its logs";
  return "check the server's URL and headers";
}

const IP_LITERAL = /^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:.]+\]|[0-9a-f:]+:[0-9a-f:.]*)$/i;

/** Whether a connection to `hostname:port` opens within `ms` (closed at once). */
async function opens(connect: Connect, hostname: string, port: number, ms: number): Promise<boolean> {
  let socket: ReturnType<Connect> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    socket = connect({ hostname, port });
    const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
    return await Promise.race([socket.opened.then(() => true), timeout]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    socket && Promise.resolve(socket.close()).catch(() => {});
  }
}

/**
 * Turns the error a `fetch` to `url` threw into a {@link NetworkFailure} saying what failed and
 * what to check. Errors that are not workerd's opaque network errors keep their own text.
 * @param connect the worker's `connect` from `cloudflare:sockets`; without one, no probe is made
 * @param opts.revealAddress name the host and port (default true: for the admin); false says "the server's address"
 * @param opts.probeMs bound on the probing connection (default 2000)
 */
export async function diagnoseFetchError(
  url: string,
  err: unknown,
  connect?: Connect,
  opts: { revealAddress?: boolean; probeMs?: number } = {},
): Promise<NetworkFailure> {
  const reveal = opts.revealAddress ?? true;
  const probeMs = opts.probeMs ?? 2000;
  if (err instanceof NetworkFailure) return err;
  const message = String((err as Error)?.message ?? err);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return new NetworkFailure("unreachable", message);
  }
  const hostname = u.hostname;
  const port = Number(u.port || (u.protocol === "https:" ? 443 : 80));
  const host = reveal ? hostname : "the server's host";
  const where = reveal ? `${hostname}:${port}` : "the server's address";
  const lost = /network connection lost/i.test(message);
  const opaque = /internal error; reference =/i.test(message);
  if (!lost && !opaque) return new NetworkFailure("unreachable", `${message} (${where})`);
  const connected = connect ? await opens(connect, hostname.replace(/^\[|\]$/g, ""), port, probeMs) : null;
  if (connected === null) return new NetworkFailure("unreachable", CHECKS.unreachable(where, host));
  if (lost)
    return new NetworkFailure(
      connected ? "dropped" : "refused",
      (connected ? CHECKS.dropped : CHECKS.refused)(where, host),
    );
  if (!connected)
    return new NetworkFailure(
      IP_LITERAL.test(hostname) ? "unreachable" : "dns",
      (IP_LITERAL.test(hostname) ? CHECKS.unreachable : CHECKS.dns)(where, host),
    );
  if (u.protocol === "https:") return new NetworkFailure("tls", CHECKS.tls(where, host));
  return new NetworkFailure("dropped", CHECKS.dropped(where, host));
}

/**
 * A `fetch` whose network errors come out diagnosed ({@link NetworkFailure}); aborts (timeouts,
 * a client gone) are passed on as they are.
 */
export function diagnosingFetch(
  connect: Connect | undefined,
  base: (url: string | URL, init?: RequestInit) => Promise<Response> = (u, i) => fetch(u, i),
) {
  return async (url: string | URL, init?: RequestInit): Promise<Response> => {
    try {
      return await base(url, init);
    } catch (err) {
      if (init?.signal?.aborted || (err as Error)?.name === "AbortError") throw err;
      throw await diagnoseFetchError(String(url), err, connect);
    }
  };
}
