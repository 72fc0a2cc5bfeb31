import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { jsonRpcErrors } from ".";

const app = new Hono()
  .use("*", jsonRpcErrors())
  .get("/mcp/unauth", (c) =>
    c.json({ error: "unauthenticated", message: "credentials required" }, 401, {
      "WWW-Authenticate": 'Bearer resource_metadata="x"',
    }),
  )
  .get("/mcp/rpc", (c) => c.json({ jsonrpc: "2.0", id: 7, error: { code: -32601, message: "no" } }, 404))
  .get("/mcp/text", (c) => c.text("nope", 405))
  .get("/mcp/ok", (c) => c.json({ jsonrpc: "2.0", id: 1, result: {} }))
  .get("/admin/x", (c) => c.json({ error: "forbidden", message: "no" }, 403));

describe("jsonRpcErrors", () => {
  it("wraps a plain JSON error on an MCP path, keeping status and headers", async () => {
    const res = await app.request("/mcp/unauth");
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Bearer resource_metadata="x"');
    expect(await res.json()).toEqual({
      jsonrpc: "2.0",
      id: null,
      error: { code: -32001, message: "credentials required", data: { error: "unauthenticated" } },
    });
  });

  it("leaves JSON-RPC errors, successes and other paths alone; replaces text errors", async () => {
    expect(await (await app.request("/mcp/rpc")).json()).toEqual({
      jsonrpc: "2.0",
      id: 7,
      error: { code: -32601, message: "no" },
    });
    expect(await (await app.request("/mcp/ok")).json()).toEqual({ jsonrpc: "2.0", id: 1, result: {} });
    expect(await (await app.request("/admin/x")).json()).toEqual({ error: "forbidden", message: "no" });
    const text = await app.request("/mcp/text");
    expect(text.status).toBe(405);
    expect(await text.json()).toMatchObject({ jsonrpc: "2.0", error: { code: -32600, message: "HTTP 405" } });
  });
});
