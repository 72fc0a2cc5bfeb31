import { Hono } from "hono";
import { describe, expect, it, vi } from "vitest";
import { discard, drainBody } from ".";

/** A body of `chunks` chunks of `size` bytes that counts what was pulled from it; `stall` stops before the end. */
function counted(chunks: number, size: number, stall = false) {
  const seen = { bytes: 0, cancelled: false };
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(ctl) {
      if (sent === chunks) {
        if (stall) return new Promise<void>(() => {});
        return ctl.close();
      }
      sent++;
      seen.bytes += size;
      ctl.enqueue(new Uint8Array(size));
    },
    cancel() {
      seen.cancelled = true;
    },
  });
  return { body, seen };
}

const app = new Hono()
  .use("*", drainBody({ maxBytes: 10_000 }))
  .post("/ignore", (c) => c.text("refused", 403))
  .post("/read", async (c) => c.json({ length: (await c.req.text()).length }));

const post = (path: string, body: ReadableStream<Uint8Array> | string, headers: Record<string, string> = {}) =>
  app.request(path, { method: "POST", body, headers, duplex: "half" } as RequestInit);

describe("drainBody", () => {
  it("reads a body the handler left unread to its end before answering", async () => {
    const { body, seen } = counted(8, 1000);
    const res = await post("/ignore", body);
    expect(res.status).toBe(403);
    expect(seen).toEqual({ bytes: 8000, cancelled: false });
  });

  it("leaves a body the handler read alone, and the handler sees all of it", async () => {
    const { body, seen } = counted(3, 1000);
    expect(await (await post("/read", body)).json()).toEqual({ length: 3000 });
    expect(seen.bytes).toBe(3000);
  });

  it("stops past maxBytes and cancels the rest", async () => {
    const { body, seen } = counted(1000, 1000);
    expect((await post("/ignore", body)).status).toBe(403);
    expect(seen.cancelled).toBe(true);
    // what it read past the limit is one chunk and what the stream queued ahead, never the whole body
    expect(seen.bytes).toBeGreaterThan(10_000);
    expect(seen.bytes).toBeLessThan(20_000);
  });

  it("does not read a body declared larger than maxBytes, and reads one declared exactly that long", async () => {
    const over = counted(20, 1000);
    expect((await post("/ignore", over.body, { "content-length": "20000" })).status).toBe(403);
    expect(over.seen.bytes).toBeLessThanOrEqual(1000);
    const exact = counted(10, 1000);
    expect((await post("/ignore", exact.body, { "content-length": "10000" })).status).toBe(403);
    expect(exact.seen).toEqual({ bytes: 10_000, cancelled: false });
  });

  it("leaves no timer behind once the body is read", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      await discard(counted(3, 100).body, 10_000);
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it("gives up on a body that stops arriving", async () => {
    const { body, seen } = counted(2, 100, true);
    const at = Date.now();
    await discard(body, 10_000, 50);
    expect(Date.now() - at).toBeLessThan(2_000);
    expect(seen).toEqual({ bytes: 200, cancelled: true });
  });
});
