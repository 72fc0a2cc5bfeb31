import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { headerBytes, headerLimit } from ".";

const app = new Hono().use("*", headerLimit({ maxBytes: 2048 })).all("*", (c) => c.json({ ok: true }));

describe("headerLimit", () => {
  it("counts headers as on the wire", () => {
    expect(headerBytes(new Headers({ ab: "cd" }))).toBe(2 + 2 + 4);
  });

  it("answers 431 JSON past the limit and JSON-RPC on /mcp", async () => {
    const big = { "x-big": "z".repeat(3000) };
    const api = await app.request("/admin/api/x", { headers: big });
    expect(api.status).toBe(431);
    expect(await api.json()).toMatchObject({ error: "headers_too_large" });
    const mcp = await app.request("/mcp/srv", { headers: big });
    expect(mcp.status).toBe(431);
    expect(await mcp.json()).toMatchObject({ jsonrpc: "2.0", id: null, error: { code: -32600 } });
    expect((await app.request("/mcp", { headers: { "x-small": "1" } })).status).toBe(200);
  });
});
