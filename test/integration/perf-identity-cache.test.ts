/**
 * The auth worker's identity cache (workers/auth/src/identity.cache.ts) end to end - real workerd,
 * real Postgres - at the production default IDENTITY_VERSION_TTL_MS (500 ms; most other test
 * files run with 0): warm API keys cost no Postgres connection per request, a key revoked through
 * the admin API is refused for requests starting 2 s later (the CONTRACT), and while Postgres is
 * unreachable a cached identity keeps working for STALE_IDENTITY_MAX_SECONDS, then fails closed
 * with a 503 JSON. Postgres is reached through a TCP proxy in this file that counts connections
 * and can be stopped (an unreachable database without stopping the shared server).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { untilInForce } from "../harness/contract";
import { tcpProxy, type TcpProxy } from "../harness/tcp-proxy";
import { startTestStack, type TestStack } from "../harness/stack";

const STALE_SECONDS = 4;

let t: TestStack;
let proxy: TcpProxy;

/** The identity step of forwardAuth, answered by the auth worker alone (no other worker touches Postgres). */
const me = (key: string) => t.fetch("/auth/me", { key, headers: { accept: "application/json" } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  t = await startTestStack({ caches: "production", env: { STALE_IDENTITY_MAX_SECONDS: String(STALE_SECONDS) } });
  const direct = new URL(t.databaseUrl);
  proxy = await tcpProxy(direct.hostname, Number(direct.port || 5432));
  const viaProxy = new URL(t.databaseUrl);
  viaProxy.hostname = "127.0.0.1";
  viaProxy.port = String(proxy.port);
  t.workerEnv.DATABASE_URL = viaProxy.toString();
  await t.restartWorkerd();
}, 120_000);

afterAll(async () => {
  await t?.stop();
  await proxy?.stop();
});

describe("identity cache (IDENTITY_VERSION_TTL_MS 500)", () => {
  it("answers warm API keys without a Postgres connection per request", async () => {
    const key = await t.userKey("warm@example.com", { groups: ["warm-users"] });
    expect((await me(key)).status).toBe(200);
    const before = proxy.accepted();
    const started = Date.now();
    const statuses: number[] = [];
    const requests = 60;
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        for (let i = 0; i < requests / 6; i++) {
          const res = await me(key);
          statuses.push(res.status);
          expect(await res.json()).toMatchObject({ email: "warm@example.com", groups: ["warm-users"], via: "apikey" });
        }
      }),
    );
    const elapsed = Date.now() - started;
    const opened = proxy.accepted() - before;
    expect(statuses.every((s) => s === 200)).toBe(true);
    // without the cache: at least one connection per request; with it: the version re-check,
    // at most one per 500 ms, plus the last-use record of the key (once a minute)
    expect(opened).toBeLessThan(requests / 2);
    expect(opened).toBeLessThanOrEqual(Math.ceil(elapsed / 500) + 2);
  });

  it("refuses a key revoked through the admin API for requests starting 2 s later", async () => {
    const key = await t.userKey("revoke-me@example.com", { groups: ["warm-users"] });
    const id = key.split("_")[1]!;
    expect((await me(key)).status).toBe(200);
    expect((await me(key)).status).toBe(200);
    const del = await t.fetch(`/admin/api/users/revoke-me@example.com/keys/${id}`, {
      method: "DELETE",
      key: t.adminKey,
    });
    expect(del.status).toBe(204);
    const answered = Date.now();
    // keep the key in use meanwhile (a warm cache is the case that matters), check at answer + 2 s
    await untilInForce(answered, () => me(key));
    const [res, mcp] = await Promise.all([
      me(key),
      t.fetch("/mcp", {
        method: "POST",
        key,
        headers: { accept: "application/json, text/event-stream" },
        json: {
          jsonrpc: "2.0",
          id: 1,
          method: "initialize",
          params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } },
        },
      }),
    ]);
    expect(res.status).toBe(401);
    expect(mcp.status).toBe(401);
  });

  it("keeps a cached identity working while Postgres is unreachable, for a bounded time, then fails closed with 503 JSON", async () => {
    const cached = await t.userKey("cached@example.com", { groups: ["warm-users"] });
    const unseen = await t.userKey("unseen@example.com", { groups: ["warm-users"] });
    expect((await me(cached)).status).toBe(200);
    // past 1.5 s the version is read inline: the entry is then stamped with the version that
    // includes the two users just created (a cache entry never outlives a version change)
    await sleep(1700);
    expect((await me(cached)).status).toBe(200);
    await proxy.stop();
    const mark = t.workerd.mark();
    try {
      // a credential verified moments ago keeps working
      const during = await me(cached);
      expect(during.status).toBe(200);
      expect(await during.json()).toMatchObject({ email: "cached@example.com" });
      // one never verified cannot be: 503 JSON, through forwardAuth as well
      const fresh = await me(unseen);
      expect(fresh.status).toBe(503);
      expect(fresh.headers.get("content-type")).toContain("json");
      const viaMcp = await t.fetch("/mcp", {
        method: "POST",
        key: unseen,
        headers: { accept: "application/json, text/event-stream" },
        json: { jsonrpc: "2.0", id: 1, method: "ping" },
      });
      expect(viaMcp.status).toBe(503);
      // on /mcp the edge gives the refusal as a JSON-RPC error naming it
      expect(await viaMcp.json()).toMatchObject({ jsonrpc: "2.0", error: { data: { error: "identity_unavailable" } } });
      // the operator's log says why, with the cause (here the proxy's closed port), never a secret:
      // forwardAuth says it itself; /auth/me through onError's "database unavailable" with the cause
      const warned = () =>
        t.workerd
          .since(mark)
          .split("\n")
          .filter((l) => l.includes('"level":"warn"') && l.includes('"msg":"identity store unreachable"'));
      await expect.poll(() => warned().length, { timeout: 5000 }).toBeGreaterThan(0);
      const line = JSON.parse(warned()[0]!) as { message: string; path: string };
      expect(line.path).toBe("/mcp");
      expect(line.message).toMatch(/connect|refused|closed|network/i);
      expect(warned()[0]).not.toContain(unseen);
      const viaOnError = t.workerd
        .since(mark)
        .split("\n")
        .filter((l) => l.includes('"msg":"database unavailable"') && l.includes('"path":"/auth/me"'));
      expect(viaOnError.length).toBeGreaterThan(0);
      expect((JSON.parse(viaOnError[0]!) as { cause: string }).cause).toMatch(/connect|refused|closed|network/i);
      // past STALE_IDENTITY_MAX_SECONDS the cached one fails closed too
      let last = during;
      const deadline = Date.now() + (STALE_SECONDS + 10) * 1000;
      while (Date.now() < deadline) {
        last = await t.fetch("/mcp", {
          method: "POST",
          key: cached,
          headers: { accept: "application/json, text/event-stream" },
          json: { jsonrpc: "2.0", id: 1, method: "ping" },
        });
        if (
          last.status === 503 &&
          ((await last.clone().json()) as { error?: { data?: { error?: string } } }).error?.data?.error ===
            "identity_unavailable"
        )
          break;
        await sleep(250);
      }
      expect(last.status).toBe(503);
      const body = await last.json();
      expect(body).toMatchObject({ error: { data: { error: "identity_unavailable" } } });
      expect(JSON.stringify(body)).not.toMatch(/at \w+ \(|node_modules|\.ts:\d+/);
    } finally {
      await proxy.start();
    }
    // back when Postgres returns, for both
    expect((await me(cached)).status).toBe(200);
    expect((await me(unseen)).status).toBe(200);
  });
});
