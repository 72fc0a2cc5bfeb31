/**
 * The production shape without Docker: each worker runs alone under the npm workerd binary with
 * the very capnp file its container runs (`dist/workerd/<name>.capnp`, written by the same
 * `npm run build` the Dockerfile runs), one process per worker as in compose. Nothing in those
 * files is changed: workerd's own command-line overrides replace the compose DNS names with
 * loopback addresses (`--socket-addr http=127.0.0.1:<port>`, `--external-addr
 * <worker>-remote=127.0.0.1:<port>`), and each process gets exactly the variables its Env schema
 * reads and nothing inherited, like a container. Real Postgres, real upstream MCP server.
 *
 * Traefik cannot run here, so the request chain is driven twice: by hand exactly as Traefik's
 * forwardAuth does it (GET /auth/verify with X-Forwarded-*, identity headers copied onto the
 * request), and through the edge worker's own container config as the stand-in for Traefik.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { randomToken } from "../../shared/crypto";
import { IDENTITY_HEADERS, WORKER_PORTS } from "../../shared/edge";
import { generateApiKey, insertApiKey } from "../../shared/repos/apikeys.repo";
import { freePort } from "../../scripts/lib/ports";
import { waitForPort } from "../../scripts/lib/processes";
import { importTenants, TenantsFile } from "../../scripts/lib/tenants-file";
import { startEverything, type Upstream } from "../../scripts/lib/upstreams";
import { WORKERD_BIN } from "../../scripts/lib/workerd";
import { containerPort, remoteService, WORKERD_DIR } from "../../scripts/lib/workerd-config";
import { ROOT, workerSpec, type Name } from "../../scripts/lib/workers";
import { createTestDatabase, type TestDatabase } from "../harness/db";
import { startTraefikStandIn, type StandIn } from "./traefik-standin";

interface Container {
  name: Name;
  port: number;
  url: string;
  child: ChildProcess;
  output: string[];
}

const running: Container[] = [];

/** Starts `workerd serve dist/workerd/<name>.capnp` like the container's CMD, on loopback. */
async function runContainerConfig(name: Name, env: Record<string, string>, peers: Partial<Record<Name, Container>>, fixedPort?: number): Promise<Container> {
  const port = fixedPort ?? (await freePort());
  const args = ["serve", resolve(WORKERD_DIR, `${name}.capnp`), "--socket-addr", `http=127.0.0.1:${port}`];
  for (const target of new Set(Object.values(workerSpec(name).services))) {
    const peer = peers[target];
    if (!peer) throw new Error(`${name} needs ${target}, which is not running`);
    args.push("--external-addr", `${remoteService(target)}=127.0.0.1:${peer.port}`);
  }
  // Only the worker's own variables: no PATH, no HOME, nothing from the test's environment.
  const child = spawn(WORKERD_BIN, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  const output: string[] = [];
  child.stdout!.on("data", (d) => output.push(String(d)));
  child.stderr!.on("data", (d) => output.push(String(d)));
  const c: Container = { name, port, url: `http://127.0.0.1:${port}`, child, output };
  running.push(c);
  const exited = new Promise<never>((_, reject) => child.once("exit", (code) => reject(new Error(`${name} exited with ${code}: ${output.join("")}`))));
  await Promise.race([waitForPort(port, undefined, 20_000), exited]);
  child.removeAllListeners("exit");
  return c;
}

/** SIGTERM, as `docker stop` sends; SIGKILL after 3 s if workerd is still draining connections. */
function stop(c: Container): Promise<void> {
  return new Promise((res) => {
    if (c.child.exitCode !== null || c.child.signalCode !== null) return res();
    const timer = setTimeout(() => c.child.kill("SIGKILL"), 3000);
    c.child.once("exit", () => {
      clearTimeout(timer);
      res();
    });
    c.child.kill("SIGTERM");
  });
}

/** Each worker's variables: exactly the keys of its Env schema that have a value here. */
function envFor(name: Name, values: Record<string, string>): Record<string, string> {
  return Object.fromEntries(workerSpec(name).vars.filter((v) => values[v] !== undefined).map((v) => [v, values[v]!]));
}

let db: TestDatabase;
let upstream: Upstream;
let w: Record<Name, Container>;
let publicUrl: string;
let aliceKey: string;
let values: Record<string, string>;

beforeAll(async () => {
  db = await createTestDatabase();
  upstream = await startEverything("everything");
  await importTenants(
    db.sql,
    TenantsFile.parse({
      tenants: { acme: { name: "Acme", servers: { everything: { url: upstream.url } } } },
      groups: { "acme-users": { tenants: ["acme"] } },
      users: { "alice@acme.test": { groups: ["acme-users"] } },
    }),
  );
  const k = await generateApiKey();
  await insertApiKey(db.sql, "alice@acme.test", "production test", k);
  aliceKey = k.key;

  const edgePort = await freePort();
  publicUrl = `http://127.0.0.1:${edgePort}`;
  values = {
    DATABASE_URL: db.url,
    PUBLIC_URL: publicUrl,
    IDENTITY_SECRET: randomToken(48),
    SESSION_SECRET: randomToken(48),
    COOKIE_SECRET: randomToken(48),
  };
  // Start order follows the compose depends_on: catalog first, then the workers that call it.
  const catalog = await runContainerConfig("catalog", envFor("catalog", values), {});
  const [auth, mcp, admin] = await Promise.all([
    runContainerConfig("auth", envFor("auth", values), { catalog }),
    runContainerConfig("mcp", envFor("mcp", values), { catalog }),
    runContainerConfig("admin", envFor("admin", values), { catalog }),
  ]);
  w = { catalog, auth, mcp, admin } as Record<Name, Container>;
  // The edge's container config on the public port: the Traefik stand-in.
  w.edge = await runContainerConfig("edge", envFor("edge", values), w, edgePort);
});

afterAll(async () => {
  await Promise.all(running.map(stop));
  await upstream?.proc.stop();
  await db?.drop();
});

describe("the per-container workerd configs", () => {
  it("are one worker each, listening on its shared/edge.ts port and reaching others at compose names", () => {
    for (const name of ["auth", "catalog", "mcp", "admin"] as const) {
      const text = readFileSync(resolve(WORKERD_DIR, `${name}.capnp`), "utf8");
      expect(text).toContain(`address = "*:${WORKER_PORTS[name]}"`);
      expect(containerPort(name)).toBe(WORKER_PORTS[name]);
      // exactly one worker service per file
      expect(text.match(/worker = \./g)).toHaveLength(1);
      for (const target of new Set(Object.values(workerSpec(name).services))) {
        expect(text).toContain(`(name = "${remoteService(target)}", external = (address = "${target}:${WORKER_PORTS[target as keyof typeof WORKER_PORTS]}", http = ()))`);
      }
      // every variable comes from the environment; no value is baked into the config
      for (const v of workerSpec(name).vars) expect(text).toContain(`(name = "${v}", fromEnvironment = "${v}")`);
      expect(text).not.toMatch(/\btext = /);
    }
  });

  it("serve health: catalog checks Postgres, the others answer, and the image's healthcheck agrees", async () => {
    const res = await fetch(`${w.catalog.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "ok", database: "ok" });
    const viaEdge = await fetch(`${publicUrl}/healthz`);
    expect(viaEdge.status).toBe(200);
    const script = resolve(ROOT, "compose/healthcheck.sh");
    for (const name of ["auth", "catalog", "mcp", "admin"] as const) {
      const r = spawnSync("bash", [script, String(w[name].port)], { encoding: "utf8" });
      expect(r.status, `${name}: ${r.stdout}${r.stderr}`).toBe(0);
    }
    // without a port argument it reads the port from the config of $WORKER, as in the image
    const fromConfig = spawnSync("bash", [script], { encoding: "utf8", env: { WORKER: "catalog", WORKERD_CONFIG_DIR: WORKERD_DIR } });
    expect(fromConfig.stderr).toContain(`port ${WORKER_PORTS.catalog}`); // nothing listens on 8082 here
    expect(fromConfig.status).not.toBe(0);
    const closed = spawnSync("bash", [script, String(await freePort())], { encoding: "utf8" });
    expect(closed.status).not.toBe(0);
  });

  it("answer an MCP client without credentials with 401 and the resource metadata", async () => {
    const res = await fetch(`${publicUrl}/mcp`, { method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }) });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe(`Bearer resource_metadata="${publicUrl}/.well-known/oauth-protected-resource/mcp"`);
    const meta = await (await fetch(`${publicUrl}/.well-known/oauth-protected-resource/mcp`)).json();
    expect(meta).toMatchObject({ resource: `${publicUrl}/mcp` });
  });

  it("pass Traefik's forwardAuth step: auth answers exactly the identity headers, mcp accepts them", async () => {
    const verify = await fetch(`${w.auth.url}/auth/verify`, {
      headers: {
        authorization: `Bearer ${aliceKey}`,
        "x-forwarded-method": "POST",
        "x-forwarded-proto": "https",
        "x-forwarded-host": "gateway.example.test",
        "x-forwarded-uri": "/mcp",
        "x-forwarded-for": "203.0.113.7",
      },
    });
    expect(verify.status).toBe(200);
    const identity: Record<string, string> = {};
    for (const h of IDENTITY_HEADERS) {
      const v = verify.headers.get(h);
      expect(v, h).not.toBeNull();
      identity[h] = v!;
    }
    expect(identity["X-User-Email"]).toBe("alice@acme.test");
    expect(identity["X-User-Groups"]).toBe("acme-users");

    const init = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "traefik-by-hand", version: "1" } } };
    const headers = { "content-type": "application/json", accept: "application/json, text/event-stream" };
    // what Traefik forwards after a 2xx: the request plus the auth answer's identity headers
    const through = await fetch(`${w.mcp.url}/mcp`, { method: "POST", headers: { ...headers, authorization: `Bearer ${aliceKey}`, ...identity }, body: JSON.stringify(init) });
    expect(through.status).toBe(200);
    expect(through.headers.get("mcp-session-id")).toBeTruthy();
    expect(await through.text()).toContain('"protocolVersion":"2025-06-18"');
    // without the signed assertion the mcp worker refuses, whatever the plain headers claim
    const forged = await fetch(`${w.mcp.url}/mcp`, { method: "POST", headers: { ...headers, "X-User-Email": "alice@acme.test", "X-User-Admin": "true" }, body: JSON.stringify(init) });
    expect(forged.status).toBe(401);
  });

  it("route an API-key request through edge -> auth -> admin", async () => {
    const res = await fetch(`${publicUrl}/admin/api/whoami`, { headers: { authorization: `Bearer ${aliceKey}`, "X-User-Email": "mallory@evil.test" } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ email: "alice@acme.test", admin: false });
  });

  it("serve the full flow for an MCP client: edge -> auth -> mcp -> catalog -> upstream, on real Postgres", async () => {
    const transport = new StreamableHTTPClientTransport(new URL(`${publicUrl}/mcp`), { requestInit: { headers: { authorization: `Bearer ${aliceKey}` } } });
    const client = new Client({ name: "production-test", version: "1" });
    await client.connect(transport);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain("everything__echo");
      const result = await client.callTool({ name: "everything__echo", arguments: { message: "through every container" } });
      expect(JSON.stringify(result.content)).toContain("through every container");
    } finally {
      await transport.terminateSession().catch(() => {});
      await client.close();
    }
  });

  it("keep a session across replicas: initialized through one mcp process, used through another", async () => {
    // a second mcp replica (same config, same variables) behind a second edge
    const mcp2 = await runContainerConfig("mcp", envFor("mcp", values), { catalog: w.catalog });
    const edge2 = await runContainerConfig("edge", envFor("edge", values), { ...w, mcp: mcp2 });
    const headers = { authorization: `Bearer ${aliceKey}`, "content-type": "application/json", accept: "application/json, text/event-stream" };
    const rpc = async (base: string, body: unknown, extra: Record<string, string> = {}) => {
      const res = await fetch(`${base}/mcp`, { method: "POST", headers: { ...headers, ...extra }, body: JSON.stringify(body) });
      const text = await res.text();
      const data = text.trimStart().startsWith("{") ? text : (text.split("\n").find((l) => l.startsWith("data: ")) ?? "data: null").slice(6);
      return { res, json: JSON.parse(data) };
    };
    const init = await rpc(edge2.url, { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "replicas", version: "1" } } });
    expect(init.res.status).toBe(200);
    const session = init.res.headers.get("mcp-session-id")!;
    expect(session).toBeTruthy();
    const sessionHeaders = { "mcp-session-id": session, "mcp-protocol-version": "2025-06-18" };
    expect((await fetch(`${publicUrl}/mcp`, { method: "POST", headers: { ...headers, ...sessionHeaders }, body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }) })).status).toBe(202);
    const call = await rpc(publicUrl, { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "everything__echo", arguments: { message: "other replica" } } }, sessionHeaders);
    expect(call.res.status).toBe(200);
    expect(JSON.stringify(call.json.result)).toContain("other replica");
    // the replica that opened the session gone, the session still works on the other one
    await stop(mcp2);
    await stop(edge2);
    const again = await rpc(publicUrl, { jsonrpc: "2.0", id: 3, method: "tools/list", params: {} }, sessionHeaders);
    expect(again.json.result.tools.map((t: { name: string }) => t.name)).toContain("everything__echo");
    // another user's key cannot ride on alice's session
    const k = await generateApiKey();
    await db.sql`INSERT INTO users (email) VALUES ('bob@acme.test') ON CONFLICT DO NOTHING`;
    await insertApiKey(db.sql, "bob@acme.test", "test", k);
    const stolen = await fetch(`${publicUrl}/mcp`, { method: "POST", headers: { ...headers, authorization: `Bearer ${k.key}`, ...sessionHeaders }, body: JSON.stringify({ jsonrpc: "2.0", id: 4, method: "tools/list", params: {} }) });
    expect(stolen.status).toBe(404);
  });
});

describe("behind a Traefik stand-in built from traefik/dynamic/*.yml", () => {
  let traefik: StandIn;
  beforeAll(async () => {
    const ports: Record<string, number> = { auth: w.auth.port, catalog: w.catalog.port, mcp: w.mcp.port, admin: w.admin.port };
    traefik = await startTraefikStandIn({ GATEWAY_HOST: "127.0.0.1", CHAT_HOST: "chat.invalid" }, (url) => {
      const u = new URL(url);
      const port = ports[u.hostname];
      if (!port || Number(u.port) !== WORKER_PORTS[u.hostname as keyof typeof WORKER_PORTS]) throw new Error(`unexpected address ${url}`);
      return `http://127.0.0.1:${port}${u.pathname === "/" ? "" : u.pathname}`;
    });
  });
  afterAll(() => traefik?.close());

  it("asks for credentials on /mcp, hides the forwardAuth endpoint, answers health and redirects /", async () => {
    const res = await fetch(`${traefik.url}/mcp`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toContain("resource_metadata=");
    const verify = await fetch(`${traefik.url}/auth/verify`, { headers: { authorization: `Bearer ${aliceKey}` } });
    expect(verify.status).toBe(404);
    expect(verify.headers.get("x-user-email")).toBeNull();
    const health = await fetch(`${traefik.url}/healthz`);
    expect(health.status).toBe(200);
    expect(health.headers.get("strict-transport-security")).toMatch(/^max-age=\d+/);
    const root = await fetch(`${traefik.url}/`, { redirect: "manual" });
    expect(root.status).toBe(302);
    expect(root.headers.get("location")).toBe(`https://${new URL(traefik.url).host}/admin`);
  });

  it("carries an MCP client through forwardAuth to the mcp worker and the upstream", async () => {
    const transport = new StreamableHTTPClientTransport(new URL(`${traefik.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${aliceKey}` } } });
    const client = new Client({ name: "behind-traefik", version: "1" });
    await client.connect(transport);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain("everything__echo");
      const result = await client.callTool({ name: "everything__echo", arguments: { message: "via traefik's rules" } });
      expect(JSON.stringify(result.content)).toContain("via traefik's rules");
    } finally {
      await transport.terminateSession().catch(() => {});
      await client.close();
    }
  });

  it("replaces client-sent identity headers and drops their aliases", async () => {
    const res = await fetch(`${traefik.url}/admin/api/whoami`, {
      headers: { authorization: `Bearer ${aliceKey}`, "X-User-Email": "mallory@evil.test", X_User_Admin: "true", "X.User.Email": "mallory@evil.test" },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ email: "alice@acme.test", admin: false });
    const forged = await fetch(`${traefik.url}/admin/api/whoami`, { headers: { "X-User-Email": "alice@acme.test", "X-User-Admin": "true", X_Identity_Assertion: "x" } });
    expect(forged.status).toBe(401);
  });
});

