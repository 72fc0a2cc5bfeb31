/**
 * The conformance suites' server mode cannot send credentials (no header or token option in
 * 0.1.16 nor 0.2.0-alpha.12), and the gateway answers 401 without them. This loopback proxy adds
 * `Authorization: Bearer <key>` to every request and forwards everything else unchanged - method,
 * path, body, and every header the suite sent (Host and Origin included, so the suite's
 * DNS-rebinding probes reach the gateway as sent) - streaming both ways (SSE stays live; a client
 * that goes away closes the upstream request too).
 */
import { createServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";

export interface AuthProxy {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  stop(): Promise<void>;
}

/** A proxy to `target` (an http origin) that authenticates every request with `key`. */
export async function startAuthProxy(target: string, key: string): Promise<AuthProxy> {
  const to = new URL(target);
  const server = createServer((req, res) => {
    const headers = { ...req.headers, authorization: `Bearer ${key}` };
    const up = httpRequest(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        res.flushHeaders();
        upRes.pipe(res);
      },
    );
    up.on("error", () => {
      if (!res.headersSent)
        res
          .writeHead(502, { "content-type": "application/json" })
          .end(JSON.stringify({ error: "gateway unreachable" }));
      else res.destroy();
    });
    res.on("close", () => up.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
