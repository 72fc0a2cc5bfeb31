/**
 * The catalog's internal API and the upstream secrets, on the real stack (workerd, Postgres, a
 * real MCP upstream that requires its secret header):
 * - every /internal/* route refuses a request without a valid service assertion from the mcp or
 *   admin worker, however it is forged, and does nothing for it;
 * - catalog answers carry no secret value; the credentials route gives a server's headers to the
 *   mcp worker alone, for a user who may use the server;
 * - headers are stored sealed (ciphertext tagged with its key id, bound to server and header);
 *   the catalog lists and the mcp worker forwards with them, and a change of them is in force
 *   within 2 s at the production cache TTLs;
 * - rotation: the start-up step of `npm start` re-seals every row under the new key (plaintext rows
 *   too), all or nothing, without touching the servers' version, after which workers holding only
 *   the new key serve, and the old key alone is refused.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { UserCatalog } from "../../shared/catalog.schema";
import { randomToken } from "../../shared/crypto";
import { ASSERTION_HEADER } from "../../shared/edge";
import { signAssertion } from "../../shared/identity";
import { keyId, keyRing, SecretsError, unseal } from "../../shared/secrets";
import { SERVICE_ASSERTION_HEADER, signServiceAssertion } from "../../shared/service-auth";
import { startStack } from "../../scripts/lib/stack";
import { startTestStack, type TestStack } from "../harness/stack";
import { startTinyUpstream, tool, type TinyUpstream } from "./catalog.fixture";
import { gatewayClient } from "./mcp.fixture";

const SECRET = `vault-secret-${randomToken(12)}`;
let t: TestStack;
let tiny: TinyUpstream;
let alice: string;

const api = (method: string, path: string, json?: unknown) =>
  t.fetch(`/admin/api${path}`, { method, key: t.adminKey, ...(json !== undefined ? { json } : {}) });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Calls `name` through /mcp as alice; the text of the result, or the error message. */
async function call(name: string, base = t.url): Promise<string> {
  const { client } = await gatewayClient(base, "/mcp", alice);
  try {
    const r = await client.callTool({ name, arguments: {} });
    return JSON.stringify(r.content);
  } catch (err) {
    return `error: ${(err as Error).message}`;
  } finally {
    await client.close();
  }
}

beforeAll(async () => {
  tiny = await startTinyUpstream([tool("alpha")]);
  // the production cache TTLs (the harness sets them to 0): what "within 2 s" is about
  t = await startTestStack({ internalPort: 0, env: { MCP_CATALOG_TTL_MS: "500", IDENTITY_VERSION_TTL_MS: "500" } });
  tiny.requireSecret = SECRET;
  tiny.answerCalls = true;
  expect((await api("PUT", "/tenants/acme", { name: "Acme" })).status).toBe(201);
  expect(
    (await api("PUT", "/servers/vault", { tenant: "acme", url: tiny.url, headers: { "X-Upstream-Secret": SECRET } }))
      .status,
  ).toBe(201);
  expect((await api("PUT", "/servers/plain", { tenant: "acme", url: tiny.url })).status).toBe(201);
  expect((await api("PUT", "/groups/acme-users", { tenants: ["acme"] })).status).toBe(201);
  alice = await t.userKey("alice@acme.test", { groups: ["acme-users"] });
  await t.userKey("bob@other.test");
}, 120_000);

afterAll(async () => {
  await t?.stop();
  await tiny?.stop();
});

const ROUTES: [string, string][] = [
  ["GET", "/internal/catalog/alice%40acme.test"],
  ["GET", "/internal/catalog/alice%40acme.test/servers/vault"],
  ["GET", "/internal/credentials/alice%40acme.test/servers/vault"],
  ["GET", "/internal/access/alice%40acme.test"],
  ["GET", "/internal/status"],
  ["GET", "/internal/stats"],
  ["POST", "/internal/refresh/vault"],
  ["POST", "/internal/refresh"],
];

describe("the catalog's internal API", () => {
  it("refuses every route without a valid service assertion from mcp or admin, with 401 JSON and no effect", async () => {
    const env = t.workerEnv;
    const identity = await signAssertion(
      { email: "alice@acme.test", groups: ["acme-users"], admin: true, via: "apikey" },
      env.IDENTITY_SECRET!,
    );
    const forged: [string, Record<string, string>][] = [
      ["nothing", {}],
      ["garbage", { [SERVICE_ASSERTION_HEADER]: "x.y.z" }],
      ["another key", { [SERVICE_ASSERTION_HEADER]: await signServiceAssertion(randomToken(32), "mcp", "catalog") }],
      [
        "the identity key",
        { [SERVICE_ASSERTION_HEADER]: await signServiceAssertion(env.IDENTITY_SECRET!, "mcp", "catalog") },
      ],
      [
        "another audience",
        { [SERVICE_ASSERTION_HEADER]: await signServiceAssertion(env.SERVICE_SECRET!, "mcp", "admin") },
      ],
      [
        "a caller not allowed",
        { [SERVICE_ASSERTION_HEADER]: await signServiceAssertion(env.SERVICE_SECRET!, "auth", "catalog") },
      ],
      ["an identity assertion", { [ASSERTION_HEADER]: identity }],
      ["an identity assertion as service assertion", { [SERVICE_ASSERTION_HEADER]: identity }],
      ["the plain identity headers", { "X-User-Email": "alice@acme.test", "X-User-Admin": "true" }],
    ];
    // the refreshes the admin API's PUTs asked for are done (the catalog accepted the admin worker's assertion)
    // (plain has no headers, and the upstream wants its secret: listed, and refused)
    for (let i = 0; i < 100 && (await t.db.sql`SELECT count(*)::int AS n FROM server_status`)[0]!.n < 2; i++)
      await sleep(100);
    expect(
      (await t.db.sql`SELECT server_id, ok FROM server_status ORDER BY server_id`).map((r) => [r.server_id, r.ok]),
    ).toEqual([
      ["plain", false],
      ["vault", true],
    ]);
    tiny.seen.length = 0;
    const [before] = await t.db.sql`SELECT count(*)::int AS n, max(refreshed_at) AS at FROM server_status`;
    for (const [method, path] of ROUTES) {
      for (const [why, headers] of forged) {
        const res = await fetch(t.internalUrl + path, { method, headers });
        const text = await res.text();
        expect(res.status, `${method} ${path} with ${why}`).toBe(401);
        expect(JSON.parse(text)).toMatchObject({ error: "unauthenticated" });
        expect(text).not.toContain(SECRET);
      }
    }
    // nothing was listed or refreshed for those requests
    expect(tiny.seen).toEqual([]);
    const [after] = await t.db.sql`SELECT count(*)::int AS n, max(refreshed_at) AS at FROM server_status`;
    expect(after).toEqual(before);
    // the same routes with a genuine assertion answer (the refusals above are the guard, not the route)
    for (const [method, path] of ROUTES) {
      const res = await t.internal(path, { method });
      expect(res.status, `${method} ${path}`).toBe(200);
      await res.body?.cancel();
    }
    // health stays open, and says nothing but health
    const health = await fetch(`${t.internalUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(Object.keys((await health.json()) as object).sort()).toEqual(["catalogVersion", "database", "status"]);
  });

  it("answers the catalog without any secret value: only whether a server has headers, and their version", async () => {
    const whole = await t.internal("/internal/catalog/alice%40acme.test");
    const text = await whole.text();
    expect(text).not.toContain(SECRET);
    const c = JSON.parse(text) as UserCatalog;
    const vault = c.servers.find((s) => s.id === "vault")!;
    expect(vault).not.toHaveProperty("headers");
    expect(vault.credentials).toEqual({ version: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/) });
    expect(c.servers.find((s) => s.id === "plain")!.credentials).toBeNull();
    for (const path of [
      "/internal/catalog/alice%40acme.test/servers/vault",
      "/internal/access/alice%40acme.test",
      "/internal/status",
      "/internal/stats",
    ]) {
      const body = await (await t.internal(path)).text();
      expect(body, path).not.toContain(SECRET);
      expect(body, path).not.toContain("mcpgw:v1:"); // not even the sealed form
    }
    const access = (await (await t.internal("/internal/access/alice%40acme.test")).json()) as {
      servers: { server: Record<string, unknown> }[];
    };
    expect(access.servers.find((s) => s.server.id === "vault")!.server).toMatchObject({
      headerNames: ["X-Upstream-Secret"],
    });
  });

  it("gives a server's headers to the mcp worker only, and only for a user who may use the server", async () => {
    const c = (await (await t.internal("/internal/catalog/alice%40acme.test")).json()) as UserCatalog;
    const res = await t.internal("/internal/credentials/alice%40acme.test/servers/vault");
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await res.json()).toEqual({
      server: "vault",
      version: c.servers.find((s) => s.id === "vault")!.credentials!.version,
      headers: { "X-Upstream-Secret": SECRET },
    });
    // a user without the grant, an unknown user and an unknown server get the same 404
    const denied = await Promise.all(
      [
        "/internal/credentials/bob%40other.test/servers/vault",
        "/internal/credentials/nobody%40nowhere.test/servers/vault",
        "/internal/credentials/alice%40acme.test/servers/nope",
        "/internal/credentials/not-an-email/servers/vault",
      ].map(async (p) => {
        const r = await t.internal(p);
        return { status: r.status, body: await r.text() };
      }),
    );
    for (const d of denied) expect(d).toEqual({ status: 404, body: JSON.stringify({ error: "not_found" }) });
    // the admin worker may call the catalog, but not read credentials
    const admin = await t.internal("/internal/credentials/alice%40acme.test/servers/vault", {
      headers: await t.serviceHeaders("admin"),
    });
    expect(admin.status).toBe(403);
    expect(await admin.text()).not.toContain(SECRET);
    const none = await t.internal("/internal/credentials/alice%40acme.test/servers/plain");
    expect(await none.json()).toEqual({ server: "plain", version: "", headers: {} });
  });
});

describe("secrets at rest", () => {
  it("stores headers sealed: ciphertext tagged with the key id, bound to its server and header, unchanged by the same PUT", async () => {
    const [row] = await t.db.sql`SELECT headers, updated_at FROM servers WHERE id = 'vault'`;
    const stored = row!.headers as Record<string, string>;
    expect(Object.keys(stored)).toEqual(["X-Upstream-Secret"]);
    const kid = await keyId(t.workerEnv.SECRETS_KEY!);
    expect(stored["X-Upstream-Secret"]).toMatch(new RegExp(`^mcpgw:v1:${kid}:[A-Za-z0-9_-]{40,}$`));
    expect(JSON.stringify(row)).not.toContain(SECRET);
    const ring = await t.keyRing();
    expect(await unseal(ring, stored["X-Upstream-Secret"]!, "servers.headers:vault:X-Upstream-Secret")).toBe(SECRET);
    // bound to where it lives: the same value under another server or header does not open
    await expect(unseal(ring, stored["X-Upstream-Secret"]!, "servers.headers:plain:X-Upstream-Secret")).rejects.toThrow(
      SecretsError,
    );
    await expect(unseal(ring, stored["X-Upstream-Secret"]!, "servers.headers:vault:Authorization")).rejects.toThrow(
      SecretsError,
    );
    // the same headers again: nothing rewritten, no audit row claiming a change
    const audits = async () =>
      (await t.db.sql`SELECT count(*)::int AS n FROM audit_log WHERE target = 'server:vault'`)[0]!.n;
    const n = await audits();
    expect(
      (await api("PUT", "/servers/vault", { tenant: "acme", url: tiny.url, headers: { "X-Upstream-Secret": SECRET } }))
        .status,
    ).toBe(200);
    const [again] = await t.db.sql`SELECT headers, updated_at FROM servers WHERE id = 'vault'`;
    expect(again).toEqual(row);
    expect(await audits()).toBe(n);
    // the admin API never returns them
    for (const path of ["/servers", "/servers/vault", "/tenants/acme", "/audit", "/health"]) {
      const text = await (await api("GET", path)).text();
      expect(text, path).not.toContain(SECRET);
      expect(text, path).not.toContain("mcpgw:v1:");
    }
  });

  it("is what the catalog lists with and the mcp worker forwards with; a change is in force within 2 s", async () => {
    tiny.seen.length = 0;
    expect(await call("vault__alpha")).toContain("tiny called alpha");
    expect(tiny.seen.length).toBeGreaterThan(0);
    expect(tiny.seen.every((h) => h["x-upstream-secret"] === SECRET)).toBe(true);
    // a new secret: the upstream takes only it from now on
    const next = `${SECRET}-rotated`;
    expect(
      (await api("PUT", "/servers/vault", { tenant: "acme", url: tiny.url, headers: { "X-Upstream-Secret": next } }))
        .status,
    ).toBe(200);
    tiny.requireSecret = next;
    await sleep(2000);
    tiny.seen.length = 0;
    expect(await call("vault__alpha")).toContain("tiny called alpha");
    expect(tiny.seen.map((h) => h["x-upstream-secret"])).toEqual(tiny.seen.map(() => next));
    // and back, so the rest of the file uses SECRET
    expect(
      (await api("PUT", "/servers/vault", { tenant: "acme", url: tiny.url, headers: { "X-Upstream-Secret": SECRET } }))
        .status,
    ).toBe(200);
    tiny.requireSecret = SECRET;
    await sleep(2000);
    expect(await call("vault__alpha")).toContain("tiny called alpha");
  });

  it("rotates at start: every row re-sealed under the new key (plaintext rows sealed), all or nothing, the old key then removable", async () => {
    const sql = t.db.sql;
    const oldKey = t.workerEnv.SECRETS_KEY!;
    const newKey = randomToken(40);
    const [oldId, newId] = [await keyId(oldKey), await keyId(newKey)];
    // a legacy row, written in plaintext before encryption existed
    await sql`INSERT INTO servers (id, tenant_id, url, headers) VALUES ('legacy', 'acme', ${tiny.url}, ${sql.json({ "X-Upstream-Secret": SECRET })})`;
    const rows = async () =>
      Object.fromEntries(
        (await sql`SELECT id, headers, updated_at FROM servers WHERE headers <> '{}'::jsonb ORDER BY id`).map((r) => [
          r.id,
          r,
        ]),
      );
    const before = await rows();
    expect(Object.keys(before)).toEqual(["legacy", "vault"]);

    // what `npm start` does with these keys (scripts/lib/stack.ts): migrate, the start-up step, serve
    const dataDir = mkdtempSync(join(tmpdir(), "mcpgw-rotate-"));
    const logs: string[] = [];
    const startWith = (keys: Record<string, string>) =>
      startStack({
        databaseUrl: t.db.url,
        dataDir,
        port: 0,
        build: false,
        demo: false,
        localIdp: false,
        internalPort: 0,
        log: (l) => logs.push(l),
        env: { ...t.workerEnv, SECRETS_KEY_PREVIOUS: "", ...keys },
      });
    try {
      // the new key alone cannot open what the old one sealed: the start stops, and nothing is
      // written (not even the plaintext row)
      await expect(startWith({ SECRETS_KEY: newKey })).rejects.toThrow(
        new RegExp(`sealed with key ${oldId}.*SECRETS_KEY_PREVIOUS`),
      );
      expect(await rows()).toEqual(before);

      // SECRETS_KEY = new, SECRETS_KEY_PREVIOUS = old: every value under the new key
      const both = await startWith({ SECRETS_KEY: newKey, SECRETS_KEY_PREVIOUS: oldKey });
      await both.stop();
      expect(logs.join("\n")).toContain(`servers.headers: 1 plaintext value(s) sealed, 1 re-sealed under key ${newId}`);
      expect(logs.join("\n")).toContain("SECRETS_KEY_PREVIOUS can be removed now");
      const after = await rows();
      const ring = await keyRing({ SECRETS_KEY: newKey, SECRETS_KEY_PREVIOUS: [] });
      for (const id of ["legacy", "vault"]) {
        const v = (after[id]!.headers as Record<string, string>)["X-Upstream-Secret"]!;
        expect(v.startsWith(`mcpgw:v1:${newId}:`), id).toBe(true);
        expect(await unseal(ring, v, `servers.headers:${id}:X-Upstream-Secret`)).toBe(SECRET);
        // re-sealing is no change of the server: its version stays, nothing is re-listed for it
        expect(after[id]!.updated_at).toEqual(before[id]!.updated_at);
      }

      // the old key removed: the workers serve with the new one alone (the catalog lists, the mcp worker forwards)
      logs.length = 0;
      const rotated = await startWith({ SECRETS_KEY: newKey });
      try {
        expect(logs.join("\n")).not.toContain("re-sealed");
        expect(await rows()).toEqual(after);
        const creds = await fetch(`${rotated.internalUrl}/internal/credentials/alice%40acme.test/servers/legacy`, {
          headers: await t.serviceHeaders(),
        });
        expect(await creds.json()).toMatchObject({ headers: { "X-Upstream-Secret": SECRET } });
        tiny.seen.length = 0;
        // tiny refuses a request without the secret (requireSecret), so the call's answer proves
        // the rotated deployment sent it; `seen` may also hold the old deployment's background
        // listings (it cannot open the re-sealed headers), hence `some`, not `every`
        expect(await call("legacy__alpha", rotated.url)).toContain("tiny called alpha");
        expect(tiny.seen.some((h) => h["x-upstream-secret"] === SECRET)).toBe(true);
        // the rotated deployment's listing is in (it may be written in the background)
        for (
          let i = 0;
          i < 100 && (await sql`SELECT ok FROM server_status WHERE server_id = 'legacy'`)[0]?.ok !== true;
          i++
        )
          await new Promise((ok) => setTimeout(ok, 100));
        // the old deployment (t, still running on the old key) refreshing now cannot open the
        // re-sealed headers: it writes nothing over the new deployment's listing
        const stale = await t.internal("/internal/refresh/legacy", { method: "POST" });
        // (its answer is its own snapshot, which may predate the new listing by the catalog's
        // version bound; what counts is the stored status below)
        expect(stale.status).toBe(200);
        expect(await stale.json()).toMatchObject({ id: "legacy" });
        expect((await sql`SELECT ok, tool_count FROM server_status WHERE server_id = 'legacy'`)[0]).toEqual({
          ok: true,
          tool_count: 1,
        });
        expect(await call("legacy__alpha", rotated.url)).toContain("tiny called alpha");
      } finally {
        await rotated.stop();
      }
      // and the old key alone is refused from now on
      await expect(startWith({ SECRETS_KEY: oldKey })).rejects.toThrow(new RegExp(`sealed with key ${newId}`));
      expect(await rows()).toEqual(after);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
