/**
 * One HTTP/1.1 request with the request target sent exactly as given: `fetch` (WHATWG URL
 * parsing) would resolve `..`, `%2e` and `\` before sending, which hides what a front does
 * with such a path.
 */
import { Agent, request } from "node:http";

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Sends `method path` verbatim to `base` (http://host:port) with `headers`. */
export function rawRequest(
  base: string,
  path: string,
  headers: Record<string, string> = {},
  method = "GET",
): Promise<RawAnswer> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: u.hostname, port: u.port, method, path, headers: { host: u.host, ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (d: Buffer) => chunks.push(d));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** An answer on a kept-alive connection: its status and whether it came on a reused socket. */
export interface KeptAliveAnswer {
  status: number;
  reused: boolean;
}

/**
 * One kept-alive connection to `base` (an agent with a single socket, as a browser or a proxy's
 * pool reuses one): `send` queues requests on it, `close` ends it.
 */
export function keptAlive(base: string) {
  const u = new URL(base);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const send = (method: string, path: string, headers: Record<string, string> = {}, body?: string) =>
    new Promise<KeptAliveAnswer>((resolve, reject) => {
      const req = request(
        { host: u.hostname, port: u.port, method, path, agent, headers: { host: u.host, ...headers } },
        (res) => {
          res.resume();
          res.on("end", () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  return { send, close: () => agent.destroy() };
}
