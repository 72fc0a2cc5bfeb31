/**
 * What `npm start` exposes, tried as an attacker would: the real script with the demo on and
 * secrets in its environment (ADMIN_API_KEY, the three keys, DATABASE_URL's password, Open WebUI
 * and cloud secrets). A plain demo user calls server-everything's `get-env` through the gateway
 * and finds none of them; every child has only the variables on its allow-list
 * (scripts/lib/child-env.ts); everything listens on loopback; a demo upstream refuses whoever does
 * not bring its per-start credential, and answers no CORS.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSql } from "../../shared/db";
import { keyRing, unseal } from "../../shared/secrets";
import { BASE_ENV_NAMES } from "../../scripts/lib/child-env";
import { freePort } from "../../scripts/lib/ports";
import { workerVariables } from "../../scripts/lib/workerd";
import { descendants, listeners, processInfo, startCli, stopAllClis, type Cli } from "../harness/cli";
import { createTestDatabase, type TestDatabase } from "../harness/db";

const secret = (label: string) => `${label}-${randomBytes(18).toString("hex")}`;
const ADMIN_API_KEY = `mcpgw_${randomBytes(24).toString("hex")}`;
const PLANTED = {
  ADMIN_API_KEY,
  IDENTITY_SECRET: secret("identity-secret"),
  SESSION_SECRET: secret("session-secret"),
  COOKIE_SECRET: secret("cookie-secret"),
  WEBUI_SECRET_KEY: secret("webui-secret"),
  OWUI_SERVICE_KEY: secret("owui-service-key"),
  CLOUD_API_TOKEN: secret("unrelated-cloud-token"),
};
const DB_PASSWORD = secret("db-password");
const ROLE = `exposure_${randomBytes(4).toString("hex")}`;

let db: TestDatabase;
let dataDir: string;
let cli: Cli;
let url: string;
let demo: Record<string, string>;
/** Every value that must reach no upstream (the OIDC client secret and upstream tokens are added once known). */
let secrets: Record<string, string>;
/** Each demo server's headers as the gateway injects them (stored sealed under the start's SECRETS_KEY). */
let storedHeaders: Record<string, Record<string, string>>;

async function unsealedHeaders(secretsKey: string): Promise<Record<string, Record<string, string>>> {
  const ring = await keyRing({ SECRETS_KEY: secretsKey, SECRETS_KEY_PREVIOUS: [] });
  const out: Record<string, Record<string, string>> = {};
  for (const s of await db.sql<{ id: string; headers: Record<string, string> }[]>`SELECT id, headers FROM servers`) {
    out[s.id] = {};
    for (const [name, value] of Object.entries(s.headers))
      out[s.id]![name] = await unseal(ring, value, `servers.headers:${s.id}:${name}`);
  }
  return out;
}

const INIT = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "probe", version: "1" } },
};
const MCP_HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" };

beforeAll(async () => {
  db = await createTestDatabase({ migrate: false });
  dataDir = mkdtempSync(join(tmpdir(), "mcpgw-exposure-"));
  chmodSync(dataDir, 0o755);
  // a role of its own with a password to find (the embedded test server checks passwords)
  await db.sql.unsafe(`CREATE ROLE ${ROLE} LOGIN SUPERUSER PASSWORD '${DB_PASSWORD}'`);
  const withPassword = new URL(db.url);
  withPassword.username = ROLE;
  withPassword.password = DB_PASSWORD;
  const port = await freePort();
  // the Open WebUI secrets only with the settings that make them valid (npm start refuses a secret that would do nothing)
  const owui = { OWUI_URL: "http://127.0.0.1:9", OWUI_FORWARDED_HEADERS: "1" };
  cli = startCli({
    ...PLANTED,
    ...owui,
    PORT: String(port),
    DEMO: "1",
    DATA_DIR: dataDir,
    DATABASE_URL: withPassword.toString(),
  });
  await cli.waitFor(/ready in/, 150_000);
  url = `http://127.0.0.1:${port}`;
  const line = (await cli.waitFor(/demo upstreams: (.*)/))[1]!;
  demo = Object.fromEntries(line.split(", ").map((p) => p.split(" ") as [string, string]));
  const workerd = descendants(cli.child.pid!)
    .map(processInfo)
    .find((p) => p?.args[0]?.endsWith("workerd"));
  storedHeaders = await unsealedHeaders(workerd!.env.SECRETS_KEY!);
  secrets = {
    ...PLANTED,
    DB_PASSWORD,
    OIDC_CLIENT_SECRET: workerd!.env.OIDC_CLIENT_SECRET!,
    SECRETS_KEY: workerd!.env.SECRETS_KEY!,
    SERVICE_SECRET: workerd!.env.SERVICE_SECRET!,
    ...Object.fromEntries(
      Object.entries(storedHeaders).map(([id, h]) => [
        `token of ${id}`,
        (h.Authorization ?? "").replace(/^Bearer /, ""),
      ]),
    ),
  };
}, 180_000);

afterAll(async () => {
  await stopAllClis();
  await db?.drop();
  const server = db && createSql(db.url.replace(/\/[^/]*$/, "/postgres"));
  await server?.unsafe(`DROP ROLE IF EXISTS ${ROLE}`).catch(() => {});
  await server?.end();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe("npm start with the demo and secrets in its environment", () => {
  it("knows the secrets it must keep (control: each is non-empty and in force)", async () => {
    for (const [name, value] of Object.entries(secrets)) expect(value.length, name).toBeGreaterThanOrEqual(16);
    expect(Object.keys(demo).sort()).toEqual(["everything", "files", "memory", "modern"]);
    const who = await fetch(`${url}/admin/api/whoami`, { headers: { authorization: `Bearer ${ADMIN_API_KEY}` } });
    expect(await who.json()).toMatchObject({ email: "admin@localhost", admin: true });
  });

  it("gives a plain demo user's get-env call through the gateway none of them", async () => {
    const issued = await fetch(`${url}/admin/api/users/joelalama@google.com/keys`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "probe" }),
    });
    expect(issued.status).toBe(201);
    const { key } = (await issued.json()) as { key: string };
    const client = new Client({ name: "plain-user", version: "1" });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
        requestInit: { headers: { Authorization: `Bearer ${key}` } },
      }),
    );
    const result = (await client.callTool({ name: "everything__get-env", arguments: {} })) as {
      content: { type: string; text: string }[];
      isError?: boolean;
    };
    await client.close();
    expect(result.isError).toBeFalsy();
    const text = result.content.map((c) => c.text).join("\n");
    const env = JSON.parse(text) as Record<string, string>;
    expect(env.PORT).toBe(new URL(demo.everything!).port); // it is the real environment of the demo upstream
    for (const [name, value] of Object.entries(secrets))
      expect(text.includes(value), `${name} reached the upstream`).toBe(false);
    expect(Object.keys(env).filter((k) => !(BASE_ENV_NAMES as readonly string[]).includes(k) && k !== "PORT")).toEqual(
      [],
    );
  });

  it("gives every child only the variables on its allow-list, and workerd exactly the workers' variables", () => {
    // every process the stack started; not tsx's esbuild service, the TypeScript loader of the
    // start script itself (it runs nothing anyone can reach)
    const children = descendants(cli.child.pid!)
      .map((pid) => ({ pid, info: processInfo(pid) }))
      .filter((c) => c.info && !c.info.args[0]!.endsWith("/esbuild"));
    const workerd = children.filter((c) => c.info!.args[0]!.endsWith("workerd"));
    const upstreams = children.filter((c) => c.info!.args.some((a) => a.endsWith("upstream-guard.mjs")));
    expect(workerd).toHaveLength(1);
    expect(upstreams).toHaveLength(4);
    const allowed = new Set(workerVariables());
    expect(Object.keys(workerd[0]!.info!.env).filter((k) => !allowed.has(k))).toEqual([]);
    const upstreamVars = new Set<string>([...BASE_ENV_NAMES, "PORT", "MCPGW_BIND_HOST", "MCPGW_UPSTREAM_TOKEN"]);
    for (const u of upstreams)
      expect(
        Object.keys(u.info!.env).filter((k) => !upstreamVars.has(k)),
        u.info!.args.join(" "),
      ).toEqual([]);
    // no secret in any environment but workerd's (which needs DATABASE_URL and the keys), upstream
    // stdio servers and their shells included; each upstream's own token only in its own
    for (const c of children) {
      if (c.info!.args[0]!.endsWith("workerd")) continue;
      const text = Object.values(c.info!.env).join("\n");
      const own = c.info!.env.MCPGW_UPSTREAM_TOKEN;
      for (const [name, value] of Object.entries(secrets))
        if (value !== own) expect(text.includes(value), `${name} in ${c.info!.args.join(" ")}`).toBe(false);
    }
  });

  it("listens on loopback only: workerd, the local IdP and every demo upstream", () => {
    const pids = [cli.child.pid!, ...descendants(cli.child.pid!)];
    const bound = listeners(pids);
    // the public socket, the IdP (in the start process) and the three upstreams at least
    const ports = new Set(bound.map((l) => l.port));
    for (const u of Object.values(demo)) expect(ports.has(Number(new URL(u).port)), u).toBe(true);
    expect(ports.has(Number(new URL(url).port))).toBe(true);
    expect(bound.filter((l) => l.pid === cli.child.pid).length).toBeGreaterThanOrEqual(1);
    expect(bound.filter((l) => !/^(127\.|::1$|::ffff:127\.)/.test(l.address))).toEqual([]);
  });

  it("has each demo upstream refuse a request without its credential, with a wrong one, and from a web page", async () => {
    const stored = storedHeaders;
    for (const [id, upstream] of Object.entries(demo)) {
      const post = (headers: Record<string, string>) =>
        fetch(upstream, { method: "POST", headers: { ...MCP_HEADERS, ...headers }, body: JSON.stringify(INIT) });
      const none = await post({});
      expect(none.status, id).toBe(401);
      expect(await none.json()).toMatchObject({ error: { message: expect.stringContaining("credential") } });
      expect((await post({ authorization: "Bearer " + "x".repeat(43) })).status, id).toBe(401);
      // another demo upstream's credential does not open this one
      const other = Object.keys(demo).find((o) => o !== id)!;
      expect((await post(stored[other]!)).status, id).toBe(401);
      // a browser's preflight gets no CORS grant
      const preflight = await fetch(upstream, {
        method: "OPTIONS",
        headers: {
          origin: "https://evil.example",
          "access-control-request-method": "POST",
          "access-control-request-headers": "content-type",
        },
      });
      expect(preflight.headers.get("access-control-allow-origin"), id).toBeNull();
      // with the stored credential (what the gateway injects) the server itself answers: initialize
      // succeeds, or (the 2026-07-28-only demo server) is refused with its own JSON-RPC error
      const ok = await post(stored[id]!);
      expect(ok.status, id).toBe(id === "modern" ? 400 : 200);
      if (id === "modern") expect(await ok.json()).toMatchObject({ error: { code: -32022 } });
      else await ok.body?.cancel();
      // and never with a CORS grant for a web page (the modern server refuses a foreign Origin outright)
      const page = await post({ ...stored[id]!, origin: "https://evil.example" });
      expect(page.status, id).toBe(id === "modern" ? 403 : 200);
      expect(
        [...page.headers.keys()].filter((k) => k.startsWith("access-control-")),
        id,
      ).toEqual([]);
      await page.body?.cancel();
    }
  });
});
