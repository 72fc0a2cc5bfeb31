/**
 * scripts/lib/ports.ts: a port handed out is closed again before its taker binds it, so the OS may
 * offer it once more; freePort must not hand it out twice (the stack's port and then its identity
 * provider's once collided in CI: workerd could not bind, and the identity provider answered).
 */
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { assertPortFree, freePort } from "../../scripts/lib/ports";

describe("freePort", () => {
  it("never hands out the same port twice within a minute, and each is free to bind", async () => {
    const ports: number[] = [];
    for (let i = 0; i < 300; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
    for (const p of ports.slice(0, 20)) await expect(assertPortFree(p)).resolves.toBeUndefined();
  });

  it("assertPortFree refuses a port something listens on", async () => {
    const srv = createServer();
    await new Promise<void>((ok) => srv.listen(0, "127.0.0.1", ok));
    const { port } = srv.address() as { port: number };
    try {
      await expect(assertPortFree(port)).rejects.toMatchObject({ code: "EADDRINUSE" });
    } finally {
      await new Promise((ok) => srv.close(ok));
    }
  });
});
