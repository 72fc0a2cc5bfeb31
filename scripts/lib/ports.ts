/** Port helpers for the local stack. */
import { createServer } from "node:net";

/** A port the OS offers on 127.0.0.1 now (closed again at once). */
function offeredPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Ports this process handed out in the last minute. A port is closed again before its taker binds
 * it, so the OS may offer it twice: the stack's port, then its own identity provider's (found in
 * CI: workerd could not bind, and every request met the identity provider's "Not Found").
 */
const handedOut = new Map<number, number>();
const HOLD_MS = 60_000;

/** A free TCP port on 127.0.0.1, never one this process handed out in the last minute. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const port = await offeredPort();
    const now = Date.now();
    for (const [p, at] of handedOut) if (now - at > HOLD_MS) handedOut.delete(p);
    if (!handedOut.has(port) || attempt >= 50) {
      handedOut.set(port, now);
      return port;
    }
  }
}

/** Resolves when `port` can be bound on `host`, rejects with EADDRINUSE otherwise. */
export function assertPortFree(port: number, host = "127.0.0.1"): Promise<void> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(port, host, () => srv.close(() => resolve()));
  });
}
