import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keptAlive, type KeptAliveAnswer } from "../harness/raw-http";
import { startTestStack, type TestStack } from "../harness/stack";

let t: TestStack;
beforeAll(async () => {
  t = await startTestStack();
});
afterAll(() => t?.stop());

describe("the local stack", () => {
  it("answers /healthz with JSON when the database is reachable", async () => {
    const res = await t.fetch("/healthz");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "ok", database: "ok" });
  });

  it("asks MCP clients for credentials with a 401 and resource metadata", async () => {
    const res = await t.fetch("/mcp", { method: "POST", json: { jsonrpc: "2.0", id: 1, method: "ping" } });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe(
      `Bearer resource_metadata="${t.url}/.well-known/oauth-protected-resource/mcp"`,
    );
    const meta = await (await t.fetch("/.well-known/oauth-protected-resource/mcp")).json();
    expect(meta).toMatchObject({ resource: `${t.url}/mcp` });
  });

  it("answers a browser's preflight for the OAuth metadata (a web client on another origin)", async () => {
    for (const path of [
      "/.well-known/oauth-protected-resource/mcp",
      "/.well-known/oauth-protected-resource",
      "/.well-known/oauth-authorization-server",
    ]) {
      const pre = await t.fetch(path, {
        method: "OPTIONS",
        headers: {
          origin: "http://localhost:6274",
          "access-control-request-method": "GET",
          "access-control-request-headers": "mcp-protocol-version",
        },
      });
      expect(pre.status, path).toBe(204);
      expect(pre.headers.get("access-control-allow-origin"), path).toBe("*");
      expect(pre.headers.get("access-control-allow-methods"), path).toContain("GET");
      expect(pre.headers.get("access-control-allow-headers")?.toLowerCase(), path).toContain("mcp-protocol-version");
      expect(pre.headers.get("access-control-allow-credentials"), path).toBeNull();
    }
    const get = await t.fetch("/.well-known/oauth-protected-resource/mcp", {
      headers: { origin: "http://localhost:6274", "mcp-protocol-version": "2025-11-25" },
    });
    expect(get.status).toBe(200);
    expect(get.headers.get("access-control-allow-origin")).toBe("*");
  });

  it("identifies the bootstrap admin by API key and ignores client-sent identity headers", async () => {
    const res = await t.fetch("/admin/api/whoami", {
      key: t.adminKey,
      headers: { "X-User-Email": "mallory@evil.test", "X-User-Admin": "false" },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ email: "admin@localhost", admin: true, via: "apikey" });
    const forged = await t.fetch("/admin/api/whoami", {
      headers: { "X-User-Email": "admin@localhost", "X-User-Admin": "true", X_Identity_Assertion: "x" },
    });
    expect(forged.status).toBe(401);
    const wrongKey = await t.fetch("/admin/api/whoami", { key: t.adminKey + "x" });
    expect(wrongKey.status).toBe(401);
  });

  it("keeps the MCP path's Postgres connections in each worker's pool: named, and at most PG_POOL_MAX each under load", async () => {
    const h = {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      authorization: `Bearer ${t.adminKey}`,
    };
    const init = {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } },
    };
    const one = async () => {
      const r = await fetch(`${t.url}/mcp`, { method: "POST", headers: h, body: JSON.stringify(init) });
      await r.text();
      expect(r.status).toBe(200);
      const list = await fetch(`${t.url}/mcp`, {
        method: "POST",
        headers: { ...h, "mcp-session-id": r.headers.get("mcp-session-id")! },
        body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }),
      });
      expect(list.status).toBe(200);
      await list.text();
    };
    await Promise.all(Array.from({ length: 40 }, one));
    const rows = await t.db
      .sql`SELECT application_name AS app, count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'mcp-gateway-%' GROUP BY 1 ORDER BY 1`;
    // auth (version checks) and the catalog (access, snapshot) worked through their pools; 4 = PG_POOL_MAX's default
    expect(rows.map((r) => r.app)).toEqual(expect.arrayContaining(["mcp-gateway-auth", "mcp-gateway-catalog"]));
    for (const r of rows) expect(r.n, String(r.app)).toBeLessThanOrEqual(4);
  });

  // workerd closes the client's connection when a worker answers without reading the body (of
  // any size behind a service binding, past 64 KiB on its own socket), and the next request on
  // that connection met ECONNRESET: a refused admin form post, then anything. Every worker reads
  // an unread body to its end first (shared/middleware/drain-body).
  it("keeps a kept-alive connection usable after a worker answers a POST without reading its body", async () => {
    const { send, close } = keptAlive(`http://127.0.0.1:${t.port}`);
    const key = { host: `localhost:${t.port}`, authorization: `Bearer ${t.adminKey}` };
    const form = { ...key, "content-type": "application/x-www-form-urlencoded" };
    const answers: KeptAliveAnswer[] = [];
    try {
      for (let i = 0; i < 10; i++) {
        // the admin worker's Origin check refuses before the body is read
        answers.push(
          await send("POST", "/admin/tenants", { ...form, origin: "https://evil.example" }, "id=x&name=forged"),
        );
        // the admin worker has no such route: 404, body unread
        answers.push(await send("POST", "/admin/api/nope", { ...key, "content-type": "application/json" }, "{}"));
        answers.push(await send("GET", "/admin/api/tenants", key));
        // past workerd's own 64 KiB: refused unread by the admin worker, and by the edge itself (no route)
        answers.push(
          await send("POST", "/admin/tenants", { ...form, origin: "https://evil.example" }, "y".repeat(200_000)),
        );
        answers.push(await send("POST", "/nowhere", form, "z".repeat(200_000)));
      }
    } finally {
      close();
    }
    expect(answers.map((a) => a.status)).toEqual(Array.from({ length: 10 }, () => [403, 404, 200, 403, 404]).flat());
    // one connection carried them all
    expect(answers.slice(1).every((a) => a.reused)).toBe(true);
    expect(await t.db.sql`SELECT id FROM tenants WHERE id = 'x'`).toEqual([]);
  });

  it("keeps serving after workerd restarts", async () => {
    await t.restartWorkerd();
    expect((await t.fetch("/admin/api/whoami", { key: t.adminKey })).status).toBe(200);
  });
});
