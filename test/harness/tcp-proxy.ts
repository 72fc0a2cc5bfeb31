/**
 * A TCP proxy on a free loopback port, for making a real server (Postgres) unreachable on demand:
 * `stop()` drops every connection and stops listening, `start()` listens again on the same port.
 * It counts the connections it accepted.
 */
import { connect, createServer, type Server, type Socket } from "node:net";
import { freePort } from "../../scripts/lib/ports";

export interface TcpProxy {
  port: number;
  start(): Promise<void>;
  stop(): Promise<void>;
  accepted(): number;
  /** `url` with host and port replaced by the proxy's. */
  via(url: string): string;
}

export async function tcpProxy(host: string, targetPort: number): Promise<TcpProxy> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  let accepted = 0;
  const start = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        accepted++;
        const upstream = connect(targetPort, host);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on("close", () => sockets.delete(s));
          s.on("error", () => {});
        }
        client.pipe(upstream).pipe(client);
        client.on("close", () => upstream.destroy());
        upstream.on("close", () => client.destroy());
      });
      server.listen(port, "127.0.0.1", () => resolve());
    });
  const stop = async () => {
    const s = server;
    server = null;
    for (const sock of sockets) sock.destroy();
    await new Promise<void>((r) => (s ? s.close(() => r()) : r()));
  };
  await start();
  return {
    port,
    start,
    stop,
    accepted: () => accepted,
    via(url) {
      const u = new URL(url);
      u.hostname = "127.0.0.1";
      u.port = String(port);
      return u.toString();
    },
  };
}

/** A proxy in front of the Postgres of `databaseUrl`. */
export function postgresProxy(databaseUrl: string): Promise<TcpProxy> {
  const u = new URL(databaseUrl);
  return tcpProxy(u.hostname, Number(u.port || 5432));
}
