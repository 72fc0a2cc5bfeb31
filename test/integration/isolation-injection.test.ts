/**
 * Injection and secrets on the real stack: SQL metacharacters in every free-text field of the
 * admin API are stored and returned verbatim (and the tables survive them); secrets - upstream
 * header values, API keys, IDENTITY_SECRET, SERVICE_SECRET, SECRETS_KEY and the other worker secrets - never appear in
 * workerd's output (all of it, every worker) nor in any API answer after the one that issues a key.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { randomBytes } from "node:crypto";
import { startEverything, type Upstream } from "../../scripts/lib/upstreams";
import { startTestStack, type TestStack } from "../harness/stack";

const NASTY = [
  "Robert'); DROP TABLE tenants;--",
  "' OR '1'='1",
  "$1 $$ $body$ \\x00",
  '%_\\ "double" `back` ;--/* */',
  "é 😀 \u202e ${name} {{x}}",
];

let t: TestStack;
let up: Upstream;
const HEADER_SECRET = `hdr-${randomBytes(12).toString("hex")}`;
const BEARER_SECRET = `upstream-bearer-${randomBytes(12).toString("hex")}`;
const answers: string[] = [];

async function api(method: string, path: string, json?: unknown): Promise<{ status: number; body: any }> {
  const res = await t.fetch(path, { method, key: t.adminKey, ...(json !== undefined ? { json } : {}) });
  const text = await res.text();
  answers.push(text);
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

beforeAll(async () => {
  up = await startEverything("vault-upstream");
  t = await startTestStack({ env: { RATE_LIMIT_PER_MINUTE: "100000" } });
});
afterAll(async () => {
  await t?.stop();
  await up?.proc.stop();
});

describe("SQL metacharacters", () => {
  it("are stored and returned verbatim in tenant names, server descriptions, group descriptions, user names and key names", async () => {
    for (const [i, s] of NASTY.entries()) {
      const id = `t${i}`;
      expect((await api("PUT", `/admin/api/tenants/${id}`, { name: s })).status).toBe(201);
      expect((await api("GET", `/admin/api/tenants/${id}`)).body.name).toBe(s);
      const srv = await api("PUT", `/admin/api/servers/s${i}`, {
        tenant: id,
        url: `http://127.0.0.1:1/mcp?q=${encodeURIComponent(s)}`,
        description: s,
      });
      expect(srv.status).toBe(201);
      const got = (await api("GET", `/admin/api/servers/s${i}`)).body;
      expect(got.description).toBe(s);
      expect(got.url).toBe(`http://127.0.0.1:1/mcp?q=${encodeURIComponent(s)}`);
      expect((await api("PUT", `/admin/api/groups/g${i}`, { tenants: [id], description: s })).status).toBe(201);
      expect((await api("GET", `/admin/api/groups/g${i}`)).body.description).toBe(s);
      const email = `user${i}@example.com`;
      expect(
        (await api("PUT", `/admin/api/users/${encodeURIComponent(email)}`, { groups: [`g${i}`], name: s })).status,
      ).toBe(201);
      expect((await api("GET", `/admin/api/users/${encodeURIComponent(email)}`)).body.name).toBe(s);
      expect((await api("POST", `/admin/api/users/${encodeURIComponent(email)}/keys`, { name: s })).status).toBe(201);
      const keys = (await api("GET", `/admin/api/users/${encodeURIComponent(email)}/keys`)).body.keys;
      expect(keys.map((k: { name: string }) => k.name)).toContain(s);
    }
    // the tables are all still there, with exactly the rows written
    const [row] = await t.db
      .sql`SELECT (SELECT count(*) FROM tenants)::int AS tenants, (SELECT count(*) FROM servers)::int AS servers, (SELECT count(*) FROM groups)::int AS groups`;
    expect(row).toMatchObject({ tenants: NASTY.length, servers: NASTY.length });
    expect(row!.groups).toBeGreaterThanOrEqual(NASTY.length);
    expect((await api("GET", "/admin/api/tenants")).body.tenants.map((x: { name: string }) => x.name).sort()).toEqual(
      [...NASTY].sort(),
    );
  });

  it("refuses a NUL character (Postgres text cannot hold it) with 400 JSON, never a 500", async () => {
    await api("PUT", "/admin/api/tenants/nul-home", { name: "home" });
    for (const [method, path, json] of [
      ["PUT", "/admin/api/tenants/nul", { name: "a\u0000b" }],
      ["PUT", "/admin/api/groups/nul", { tenants: [], description: "a\u0000b" }],
      ["PUT", "/admin/api/users/nul%40example.com", { groups: [], name: "a\u0000b" }],
      ["PUT", "/admin/api/servers/nul", { tenant: "nul-home", url: "http://127.0.0.1:1/mcp", description: "a\u0000b" }],
      ["POST", "/admin/api/users/admin%40localhost/keys", { name: "a\u0000b" }],
      ["GET", "/admin/api/audit?actor=a%00b", undefined],
    ] as const) {
      const res = await t.fetch(path, { method, key: t.adminKey, ...(json ? { json } : {}) });
      const text = await res.text();
      expect(res.status, `${method} ${path} -> ${text}`).toBe(400);
      expect(JSON.parse(text)).toMatchObject({ error: "bad_request" });
    }
    expect((await api("GET", "/admin/api/tenants/nul")).status).toBe(404);
    expect((await api("DELETE", "/admin/api/tenants/nul-home")).status).toBe(204);
  });

  it("are refused with 400 naming the field where an id must be a slug", async () => {
    const bad = await api("PUT", "/admin/api/groups/x", { tenants: ["t0'; DROP TABLE groups;--"] });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain("tenants");
    const badId = await t.fetch(`/admin/api/tenants/${encodeURIComponent("a'--")}`, {
      method: "PUT",
      key: t.adminKey,
      json: { name: "x" },
    });
    expect(badId.status).toBe(400);
    expect(await badId.json()).toMatchObject({ error: expect.any(String) });
  });
});

describe("secrets", () => {
  it("never appear in logs or API answers: upstream headers, API keys, worker secrets", async () => {
    const headers = { "X-Api-Key": HEADER_SECRET, Authorization: `Bearer ${BEARER_SECRET}` };
    expect((await api("PUT", "/admin/api/tenants/acme", { name: "Acme" })).status).toBe(201);
    expect((await api("PUT", "/admin/api/servers/vault", { tenant: "acme", url: up.url, headers })).status).toBe(201);
    // a second server with secrets that cannot be reached: its failures get logged
    expect(
      (await api("PUT", "/admin/api/servers/dead", { tenant: "acme", url: "http://127.0.0.1:1/mcp", headers })).status,
    ).toBe(201);
    expect((await api("PUT", "/admin/api/groups/acme-users", { tenants: ["acme"] })).status).toBe(201);
    expect(
      (await api("PUT", `/admin/api/users/${encodeURIComponent("alice@acme.test")}`, { groups: ["acme-users"] }))
        .status,
    ).toBe(201);
    const issued = await t.fetch(`/admin/api/users/${encodeURIComponent("alice@acme.test")}/keys`, {
      method: "POST",
      key: t.adminKey,
      json: { name: "laptop" },
    });
    expect(issued.status).toBe(201);
    const aliceKey = ((await issued.json()) as { key: string }).key;

    // use everything: MCP calls through the secret-bearing upstream, failing calls, bad keys
    const client = new Client({ name: "secrets-test", version: "1" });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(t.url + "/mcp"), {
        requestInit: { headers: { Authorization: `Bearer ${aliceKey}` } },
      }),
    );
    const tools = await client.listTools();
    answers.push(JSON.stringify(tools));
    answers.push(JSON.stringify(await client.callTool({ name: "vault__echo", arguments: { message: "hello" } })));
    answers.push(
      await client
        .callTool({ name: "dead__echo", arguments: { message: "x" } })
        .then(JSON.stringify, (e: Error) => e.message),
    );
    await client.close();
    for (const wrong of [aliceKey + "x", aliceKey.slice(0, -2), `${t.adminKey}0`]) {
      const res = await t.fetch("/mcp", {
        method: "POST",
        key: wrong,
        json: { jsonrpc: "2.0", id: 1, method: "ping" },
      });
      expect(res.status).toBe(401);
      answers.push(await res.text());
    }
    for (const path of [
      "/admin/api/servers",
      "/admin/api/servers/vault",
      "/admin/api/servers/dead",
      `/admin/api/access/${encodeURIComponent("alice@acme.test")}`,
      "/admin/api/audit",
      "/admin/api/health",
      "/admin/api/users",
      `/admin/api/users/${encodeURIComponent("alice@acme.test")}`,
      "/admin/api/openapi.json",
    ]) {
      const r = await api("GET", path);
      expect(r.status, path).toBe(200);
    }
    expect(
      (await api("GET", "/admin/api/servers/vault")).body.headerNames.map((h: string) => h.toLowerCase()).sort(),
    ).toEqual(["authorization", "x-api-key"]);
    await new Promise((r) => setTimeout(r, 500)); // let waitUntil work (audit, logs) finish

    const secrets: Record<string, string> = {
      "upstream header value": HEADER_SECRET,
      "upstream bearer": BEARER_SECRET,
      "alice's API key": aliceKey,
      "admin API key": t.adminKey,
    };
    for (const name of [
      "IDENTITY_SECRET",
      "SESSION_SECRET",
      "COOKIE_SECRET",
      "SERVICE_SECRET",
      "SECRETS_KEY",
      "OWUI_SERVICE_KEY",
      "WEBUI_SECRET_KEY",
      "OIDC_CLIENT_SECRET",
    ]) {
      const v = t.workerEnv[name];
      if (v && v.length >= 16) secrets[name] = v;
    }
    expect(Object.keys(secrets)).toEqual(expect.arrayContaining(["IDENTITY_SECRET", "SERVICE_SECRET", "SECRETS_KEY"]));
    const logs = t.workerd.output();
    expect(logs.length).toBeGreaterThan(0);
    const leaks: string[] = [];
    for (const [name, value] of Object.entries(secrets)) {
      // the secret part of an API key (after its public prefix `mcpgw_<id>_`; the secret itself may
      // contain "_") is what must not leak
      const needle = value.startsWith("mcpgw_") ? value.split("_").slice(2).join("_") : value;
      expect(needle.length, `${name}: a needle long enough to mean something`).toBeGreaterThanOrEqual(16);
      if (logs.includes(needle)) leaks.push(`${name} in workerd's output`);
      answers.forEach((a, i) => {
        if (a.includes(needle)) leaks.push(`${name} in API answer #${i}: ${a.slice(0, 120)}`);
      });
    }
    // no identity or service assertion (bearer credentials between workers) in the logs either
    if (/eyJ[\w-]{10,}\.eyJ[\w-]{10,}\.[\w-]{10,}/.test(logs)) leaks.push("a JWT in workerd's output");
    expect(leaks).toEqual([]);
  });
});
