/**
 * The edge's limits on the real stack: body size (413), header size (431), media type (415),
 * security headers, and the per-user rate limit holding across two workerd processes that
 * share one Postgres (429 with Retry-After).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "node:net";
import { startTestStack, type TestStack } from "../harness/stack";
import { startWorkerd } from "../../scripts/lib/workerd";
import { freePort } from "../../scripts/lib/ports";
import type { Managed } from "../../scripts/lib/processes";

const LIMIT = 10;
let t: TestStack;
let second: Managed;
let secondUrl: string;

beforeAll(async () => {
  t = await startTestStack({
    env: { RATE_LIMIT_PER_MINUTE: String(LIMIT), RATE_LIMIT_SYNC_MS: "200", MAX_BODY_BYTES: String(64 * 1024) },
  });
  const port = await freePort();
  second = await startWorkerd({ port, env: t.workerEnv, name: "workerd-2" });
  secondUrl = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  await second?.stop();
  await t?.stop();
});

/** Sends raw bytes over one HTTP/1.1 connection and returns the raw answer (or "" on reset). */
function raw(port: number, request: string | Buffer): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    let out = "";
    s.on("data", (d) => (out += d.toString("latin1")));
    s.on("error", () => resolve(out));
    s.on("close", () => resolve(out));
    s.write(request);
    setTimeout(() => s.end(), 3000);
  });
}

describe("request size limits", () => {
  it("refuses a declared body over MAX_BODY_BYTES with 413 JSON, a JSON-RPC error on /mcp", async () => {
    const big = "x".repeat(70 * 1024);
    const admin = await t.fetch("/admin/api/tenants/x", {
      method: "PUT",
      key: t.adminKey,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: big }),
    });
    expect(admin.status).toBe(413);
    expect(await admin.json()).toMatchObject({ error: "body_too_large" });
    const mcp = await t.fetch("/mcp", {
      method: "POST",
      key: t.adminKey,
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping", params: { big } }),
    });
    expect(mcp.status).toBe(413);
    expect(await mcp.json()).toMatchObject({
      jsonrpc: "2.0",
      id: null,
      error: { code: -32600, data: { error: "body_too_large" } },
    });
  });

  it("refuses a chunked body over the limit without a length, and passes a small chunked one", async () => {
    const stream = (bytes: number) =>
      new ReadableStream({
        start(ctl) {
          for (let i = 0; i < bytes; i += 8192)
            ctl.enqueue(new TextEncoder().encode("y".repeat(Math.min(8192, bytes - i))));
          ctl.close();
        },
      });
    const big = await fetch(t.url + "/mcp", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${t.adminKey}` },
      body: stream(100 * 1024),
      duplex: "half",
    } as RequestInit);
    expect(big.status).toBe(413);
    expect(((await big.json()) as any).error.data.error).toBe("body_too_large");
    // a small chunked body reaches the worker (which then judges it): anything but 413
    const small = await fetch(t.url + "/mcp", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${t.adminKey}` },
      body: stream(100),
      duplex: "half",
    } as RequestInit);
    expect(small.status).not.toBe(413);
  });

  it("refuses oversized headers with 431 JSON before authenticating", async () => {
    const res = await t.fetch("/admin/api/whoami", { key: t.adminKey, headers: { "x-filler": "a".repeat(40 * 1024) } });
    expect(res.status).toBe(431);
    expect(await res.json()).toMatchObject({ error: "headers_too_large" });
    const mcp = await t.fetch("/mcp", {
      method: "POST",
      headers: { "x-filler": "a".repeat(40 * 1024), "content-type": "application/json" },
      body: "{}",
    });
    expect(mcp.status).toBe(431);
    expect(((await mcp.json()) as any).error.data.error).toBe("headers_too_large");
  });

  it("survives header blocks past workerd's own limit (no crash, the next request is served)", async () => {
    const answer = await raw(
      t.port,
      `GET /healthz HTTP/1.1\r\nhost: localhost\r\nx-a: ${"b".repeat(300 * 1024)}\r\n\r\n`,
    );
    // workerd answers a bare 431 or closes the connection; never a 5xx
    expect(answer === "" || /^HTTP\/1\.1 4\d\d/.test(answer)).toBe(true);
    expect((await t.fetch("/healthz")).status).toBe(200);
    expect(t.workerd.child.exitCode).toBeNull();
  });
});

describe("media types", () => {
  it("requires application/json on MCP POSTs and admin API writes (415)", async () => {
    const mcp = await t.fetch("/mcp", {
      method: "POST",
      key: t.adminKey,
      headers: { "content-type": "text/plain" },
      body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
    });
    expect(mcp.status).toBe(415);
    expect(await mcp.json()).toMatchObject({
      jsonrpc: "2.0",
      error: { code: -32600, data: { error: "unsupported_media_type" } },
    });
    const form = await t.fetch("/admin/api/tenants/x", {
      method: "PUT",
      key: t.adminKey,
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "name=x",
    });
    expect(form.status).toBe(415);
    expect(await form.json()).toMatchObject({ error: "unsupported_media_type" });
    const withCharset = await t.fetch("/mcp", {
      method: "POST",
      key: t.adminKey,
      headers: { "content-type": "application/json; charset=utf-8" },
      body: "{}",
    });
    expect(withCharset.status).not.toBe(415);
  });
});

describe("security headers", () => {
  it("marks every answer nosniff and never serves a non-JSON error page", async () => {
    for (const path of ["/healthz", "/nowhere", "/admin/api/whoami", "/mcp"]) {
      const res = await t.fetch(path, { key: t.adminKey });
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      if (res.status >= 400) expect(res.headers.get("content-type")).toContain("json");
    }
  });
});

describe("per-user rate limit across replicas", () => {
  const call = (base: string, key: string) =>
    fetch(base + "/admin/api/whoami", { headers: { authorization: `Bearer ${key}` } });
  const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it("counts one user's requests on both workerd processes against one budget", async () => {
    // the windows are whole minutes: do not start a run that could straddle two
    const left = 60_000 - (Date.now() % 60_000);
    if (left < 15_000) await wait(left + 200);
    const key = await t.userKey("busy@example.com");
    const other = await t.userKey("calm@example.com");
    let admitted = 0;
    for (let i = 0; i < 6; i++) if ((await call(t.url, key)).status === 200) admitted++;
    expect(admitted).toBe(6);
    // the first replica has flushed its counts (every RATE_LIMIT_SYNC_MS; slower on a loaded machine)
    await expect
      .poll(
        async () =>
          (await t.db.sql`SELECT sum(count)::int AS n FROM rate_limit_counters WHERE subject = 'busy@example.com'`)[0]!
            .n,
        { timeout: 10_000, interval: 100 },
      )
      .toBe(6);
    let refused: Response | undefined;
    for (let i = 0; i < LIMIT; i++) {
      const res = await call(secondUrl, key);
      if (res.status === 200) admitted++;
      else if (!refused) refused = res;
    }
    // one budget of LIMIT over both processes (each alone would have admitted LIMIT)
    expect(admitted).toBe(LIMIT);
    expect(refused!.status).toBe(429);
    expect(Number(refused!.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(await refused!.json()).toMatchObject({ error: "rate_limited" });
    await wait(800);
    const back = await call(t.url, key);
    expect(back.status).toBe(429);
    // the MCP endpoint refuses with a JSON-RPC error
    const mcp = await fetch(t.url + "/mcp", {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
    });
    expect(mcp.status).toBe(429);
    expect(await mcp.json()).toMatchObject({
      jsonrpc: "2.0",
      error: { code: -32000, data: { error: "rate_limited" } },
    });
    // another user is not affected
    expect((await call(secondUrl, other)).status).toBe(200);
    const [row] = await t.db
      .sql`SELECT sum(count)::int AS n FROM rate_limit_counters WHERE subject = 'busy@example.com'`;
    expect(row!.n).toBe(LIMIT);
  });
});
