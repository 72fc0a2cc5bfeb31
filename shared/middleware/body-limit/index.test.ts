import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { bodyLimit } from ".";

const app = new Hono()
  .use("*", bodyLimit({ maxBytes: 1024 }))
  .post("*", async (c) => c.json({ length: (await c.req.text()).length }));

const chunked = (bytes: number) =>
  new ReadableStream({
    start(ctl) {
      for (let i = 0; i < bytes; i += 256) ctl.enqueue(new TextEncoder().encode("a".repeat(Math.min(256, bytes - i))));
      ctl.close();
    },
  });

describe("bodyLimit", () => {
  it("refuses a declared length over the limit with 413", async () => {
    const res = await app.request("/admin/api/x", {
      method: "POST",
      body: "b".repeat(2000),
      headers: { "content-length": "2000" },
    });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: "body_too_large" });
  });

  it("refuses an unbounded stream once it passes the limit, JSON-RPC on /mcp", async () => {
    const res = await app.request("/mcp", { method: "POST", body: chunked(5000), duplex: "half" } as RequestInit);
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({
      jsonrpc: "2.0",
      error: { code: -32600, data: { error: "body_too_large" } },
    });
  });

  it("passes bodies within the limit intact", async () => {
    expect(
      await (await app.request("/x", { method: "POST", body: chunked(1000), duplex: "half" } as RequestInit)).json(),
    ).toEqual({ length: 1000 });
    expect(await (await app.request("/x", { method: "POST", body: "c".repeat(1024) })).json()).toEqual({
      length: 1024,
    });
  });
});
