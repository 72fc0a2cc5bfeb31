/**
 * The production shape without Docker: each worker runs alone under the npm workerd binary with
 * the very capnp file its container runs (`dist/workerd/<name>.capnp`, written by the same
 * `npm run build` the Dockerfile runs), one process per worker as in compose. Nothing in those
 * files is changed: workerd's own command-line overrides replace the compose DNS names with
 * loopback addresses (`--socket-addr http=127.0.0.1:<port>`, `--external-addr
 * <worker>-remote=127.0.0.1:<port>`), and each process gets exactly the variables its Env schema
 * reads and nothing inherited, like a container. Real Postgres, real upstream MCP server.
 *
 * The catalog's internal API, on the port the upstreams' network reaches in compose, must refuse
 * every request without a service assertion; catalog answers carry no secret; the secret header,
 * stored sealed, still reaches the upstream through the catalog's listing and the mcp worker.
 *
 * Traefik cannot run here, so the request chain is driven twice: by hand exactly as Traefik's
 * forwardAuth does it (GET /auth/verify with X-Forwarded-*, identity headers copied onto the
 * request), through the edge worker's own container config, and through a Traefik stand-in built
 * from traefik/dynamic/*.yml that routes straight to the workers as production does: there the
 * request limits and the per-user rate limit must hold without the edge.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { randomToken } from "../../shared/crypto";
import {
  ASSERTION_HEADER,
  FORWARD_AUTH_PORT,
  FORWARD_AUTH_SOCKET,
  IDENTITY_HEADERS,
  WORKER_PORTS,
} from "../../shared/edge";
import { signAssertion } from "../../shared/identity";
import { keyRing } from "../../shared/secrets";
import { SERVICE_ASSERTION_HEADER, signServiceAssertion } from "../../shared/service-auth";
import { generateApiKey, insertApiKey } from "../../shared/repos/apikeys.repo";
import { freePort } from "../../scripts/lib/ports";
import { waitForPort } from "../../scripts/lib/processes";
import { importTenants, TenantsFile } from "../../scripts/lib/tenants-file";
import { startEverything, type Upstream } from "../../scripts/lib/upstreams";
import { WORKERD_BIN } from "../../scripts/lib/workerd";
import { containerPort, ENTRYPOINT_SOCKETS, remoteService, WORKERD_DIR } from "../../scripts/lib/workerd-config";
import { ROOT, workerSpec, type Name } from "../../scripts/lib/workers";
import { createTestDatabase, type TestDatabase } from "../harness/db";
import { startTinyUpstream, tool, type TinyUpstream } from "./catalog.fixture";
import { startTraefikStandIn, type StandIn } from "./traefik-standin";
import { keptAlive, rawRequest, type KeptAliveAnswer } from "../harness/raw-http";
import { VERIFY_SPELLINGS } from "../harness/verify-spellings";

interface Container {
  name: Name;
  port: number;
  url: string;
  /** Its other sockets (a named entrypoint's, e.g. auth's `forward-auth`): socket name -> loopback port. */
  sockets: Record<string, number>;
  child: ChildProcess;
  output: string[];
}

const running: Container[] = [];

/** Starts `workerd serve dist/workerd/<name>.capnp` like the container's CMD, on loopback. */
async function runContainerConfig(
  name: Name,
  env: Record<string, string>,
  peers: Partial<Record<Name, Container>>,
  fixedPort?: number,
): Promise<Container> {
  const port = fixedPort ?? (await freePort());
  const args = ["serve", resolve(WORKERD_DIR, `${name}.capnp`), "--socket-addr", `http=127.0.0.1:${port}`];
  const sockets: Record<string, number> = {};
  for (const ep of ENTRYPOINT_SOCKETS.filter((e) => e.worker === name)) {
    sockets[ep.socket] = await freePort();
    args.push("--socket-addr", `${ep.socket}=127.0.0.1:${sockets[ep.socket]}`);
  }
  const spec = workerSpec(name);
  const remotes = new Map<string, number>();
  for (const [binding, target] of Object.entries(spec.services)) {
    const peer = peers[target];
    if (!peer) throw new Error(`${name} needs ${target}, which is not running`);
    const entrypoint = spec.entrypoints[binding];
    const socket = entrypoint
      ? ENTRYPOINT_SOCKETS.find((e) => e.worker === target && e.entrypoint === entrypoint)!.socket
      : undefined;
    remotes.set(remoteService(target, entrypoint), socket ? peer.sockets[socket]! : peer.port);
  }
  for (const [remote, remotePort] of remotes) args.push("--external-addr", `${remote}=127.0.0.1:${remotePort}`);
  // Only the worker's own variables: no PATH, no HOME, nothing from the test's environment.
  const child = spawn(WORKERD_BIN, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  const output: string[] = [];
  child.stdout!.on("data", (d) => output.push(String(d)));
  child.stderr!.on("data", (d) => output.push(String(d)));
  const c: Container = { name, port, url: `http://127.0.0.1:${port}`, sockets, child, output };
  running.push(c);
  const exited = new Promise<never>((_, reject) =>
    child.once("exit", (code) => reject(new Error(`${name} exited with ${code}: ${output.join("")}`))),
  );
  await Promise.race([
    Promise.all([port, ...Object.values(sockets)].map((p) => waitForPort(p, undefined, 20_000))),
    exited,
  ]);
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
  return Object.fromEntries(
    workerSpec(name)
      .vars.filter((v) => values[v] !== undefined)
      .map((v) => [v, values[v]!]),
  );
}

let db: TestDatabase;
let upstream: Upstream;
/** An upstream that answers only with its secret header (stored sealed, injected by the workers). */
let vault: TinyUpstream;
const VAULT_SECRET = `prod-vault-${randomToken(16)}`;
let w: Record<Name, Container>;
let publicUrl: string;
let aliceKey: string;
let values: Record<string, string>;

beforeAll(async () => {
  db = await createTestDatabase();
  upstream = await startEverything("everything");
  vault = await startTinyUpstream([tool("alpha")]);
  vault.requireSecret = VAULT_SECRET;
  vault.answerCalls = true;
  const secretsKey = randomToken(48);
  await importTenants(
    db.sql,
    TenantsFile.parse({
      tenants: {
        acme: {
          name: "Acme",
          servers: {
            everything: { url: upstream.url },
            vault: { url: vault.url, headers: { "X-Upstream-Secret": VAULT_SECRET } },
          },
        },
      },
      groups: { "acme-users": { tenants: ["acme"] } },
      users: { "alice@acme.test": { groups: ["acme-users"] } },
    }),
    { ring: await keyRing({ SECRETS_KEY: secretsKey, SECRETS_KEY_PREVIOUS: [] }) },
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
    SERVICE_SECRET: randomToken(48),
    SECRETS_KEY: secretsKey,
    // below Traefik's own 4 MiB (traefik/dynamic/middlewares.yml), so the workers' limit shows
    MAX_BODY_BYTES: String(64 * 1024),
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
  await vault?.stop();
  await db?.drop();
});

/** An MCP SDK client session at `url`: the everything server's echo is listed and answers `message`. */
async function echoThrough(url: string, key: string, message: string): Promise<void> {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { authorization: `Bearer ${key}` } },
  });
  const client = new Client({ name: "production-test", version: "1" });
  await client.connect(transport);
  try {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain("everything__echo");
    const result = await client.callTool({ name: "everything__echo", arguments: { message } });
    expect(JSON.stringify(result.content)).toContain(message);
  } finally {
    await transport.terminateSession().catch(() => {});
    await client.close();
  }
}

describe("the per-container workerd configs", () => {
  it("are one worker each, listening on its shared/edge.ts port and reaching others at their names on the internal network", () => {
    for (const name of ["auth", "catalog", "mcp", "admin"] as const) {
      const text = readFileSync(resolve(WORKERD_DIR, `${name}.capnp`), "utf8");
      expect(text).toContain(`address = "*:${WORKER_PORTS[name]}"`);
      expect(containerPort(name)).toBe(WORKER_PORTS[name]);
      // exactly one worker service per file
      expect(text.match(/worker = \./g)).toHaveLength(1);
      for (const [binding, target] of Object.entries(workerSpec(name).services)) {
        const ep = ENTRYPOINT_SOCKETS.find(
          (e) => e.worker === target && e.entrypoint === workerSpec(name).entrypoints[binding],
        );
        expect(text).toContain(
          `(name = "${remoteService(target, ep?.entrypoint)}", external = (address = "${target}.internal:${ep ? ep.port : WORKER_PORTS[target as keyof typeof WORKER_PORTS]}", http = ()))`,
        );
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
    const fromConfig = spawnSync("bash", [script], {
      encoding: "utf8",
      env: { WORKER: "catalog", WORKERD_CONFIG_DIR: WORKERD_DIR },
    });
    expect(fromConfig.stderr).toContain(`port ${WORKER_PORTS.catalog}`); // nothing listens on 8082 here
    expect(fromConfig.status).not.toBe(0);
    const closed = spawnSync("bash", [script, String(await freePort())], { encoding: "utf8" });
    expect(closed.status).not.toBe(0);
  });

  it("answer an MCP client without credentials with 401 and the resource metadata", async () => {
    const res = await fetch(`${publicUrl}/mcp`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe(
      `Bearer resource_metadata="${publicUrl}/.well-known/oauth-protected-resource/mcp"`,
    );
    const meta = await (await fetch(`${publicUrl}/.well-known/oauth-protected-resource/mcp`)).json();
    expect(meta).toMatchObject({ resource: `${publicUrl}/mcp` });
  });

  it("pass Traefik's forwardAuth step: auth answers exactly the identity headers, mcp accepts them", async () => {
    // Traefik's forwardAuth address: the auth container's own forward-auth socket (FORWARD_AUTH_PORT)
    const verify = await fetch(`http://127.0.0.1:${w.auth.sockets[FORWARD_AUTH_SOCKET]}/auth/verify`, {
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

    const init = {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: "2025-06-18",
        capabilities: {},
        clientInfo: { name: "traefik-by-hand", version: "1" },
      },
    };
    const headers = { "content-type": "application/json", accept: "application/json, text/event-stream" };
    // what Traefik forwards after a 2xx: the request plus the auth answer's identity headers
    const through = await fetch(`${w.mcp.url}/mcp`, {
      method: "POST",
      headers: { ...headers, authorization: `Bearer ${aliceKey}`, ...identity },
      body: JSON.stringify(init),
    });
    expect(through.status).toBe(200);
    expect(through.headers.get("mcp-session-id")).toBeTruthy();
    expect(await through.text()).toContain('"protocolVersion":"2025-06-18"');
    // without the signed assertion the mcp worker refuses, whatever the plain headers claim
    const forged = await fetch(`${w.mcp.url}/mcp`, {
      method: "POST",
      headers: { ...headers, "X-User-Email": "alice@acme.test", "X-User-Admin": "true" },
      body: JSON.stringify(init),
    });
    expect(forged.status).toBe(401);
  });

  it("refuse every internal catalog request without a valid service assertion (the catalog's port is on the upstreams' network)", async () => {
    const routes = [
      ["GET", "/internal/catalog/alice%40acme.test"],
      ["GET", "/internal/catalog/alice%40acme.test/servers/vault"],
      ["GET", "/internal/credentials/alice%40acme.test/servers/vault"],
      ["GET", "/internal/access/alice%40acme.test"],
      ["GET", "/internal/status"],
      ["GET", "/internal/stats"],
      ["POST", "/internal/refresh/vault"],
      ["POST", "/internal/refresh"],
    ] as const;
    const identity = await signAssertion(
      { email: "alice@acme.test", groups: ["acme-users"], admin: true, via: "apikey" },
      values.IDENTITY_SECRET!,
    );
    const forged: Record<string, string>[] = [
      {},
      { [SERVICE_ASSERTION_HEADER]: await signServiceAssertion(randomToken(48), "mcp", "catalog") },
      { [SERVICE_ASSERTION_HEADER]: await signServiceAssertion(values.IDENTITY_SECRET!, "mcp", "catalog") },
      { [SERVICE_ASSERTION_HEADER]: await signServiceAssertion(values.SERVICE_SECRET!, "mcp", "admin") },
      { [ASSERTION_HEADER]: identity },
      { "X-User-Email": "alice@acme.test", "X-User-Admin": "true" },
    ];
    vault.seen.length = 0;
    for (const [method, path] of routes) {
      for (const headers of forged) {
        const res = await fetch(`${w.catalog.url}${path}`, { method, headers });
        const text = await res.text();
        expect(res.status, `${method} ${path} ${Object.keys(headers)}`).toBe(401);
        expect(JSON.parse(text)).toMatchObject({ error: "unauthenticated" });
        expect(text).not.toContain(VAULT_SECRET);
      }
    }
    expect(vault.seen).toEqual([]); // no refresh ran for them
    // the mcp worker's own assertion passes; the answer names no secret
    const mcp = { [SERVICE_ASSERTION_HEADER]: await signServiceAssertion(values.SERVICE_SECRET!, "mcp", "catalog") };
    const catalog = await fetch(`${w.catalog.url}/internal/catalog/alice%40acme.test`, { headers: mcp });
    expect(catalog.status).toBe(200);
    const text = await catalog.text();
    expect(text).not.toContain(VAULT_SECRET);
    expect(JSON.parse(text).servers.find((x: { id: string }) => x.id === "vault")).toMatchObject({
      credentials: { version: expect.any(String) },
    });
    // the headers only through the credentials route, to the mcp worker
    const creds = await fetch(`${w.catalog.url}/internal/credentials/alice%40acme.test/servers/vault`, {
      headers: mcp,
    });
    expect(await creds.json()).toMatchObject({ headers: { "X-Upstream-Secret": VAULT_SECRET } });
    const asAdmin = await fetch(`${w.catalog.url}/internal/credentials/alice%40acme.test/servers/vault`, {
      headers: { [SERVICE_ASSERTION_HEADER]: await signServiceAssertion(values.SERVICE_SECRET!, "admin", "catalog") },
    });
    expect(asAdmin.status).toBe(403);
  });

  it("store the secret header sealed, and still list and forward with it: catalog and mcp inject it upstream", async () => {
    const [row] = await db.sql`SELECT headers FROM servers WHERE id = 'vault'`;
    expect(JSON.stringify(row)).not.toContain(VAULT_SECRET);
    expect(row!.headers["X-Upstream-Secret"]).toMatch(/^mcpgw:v1:[0-9a-f]{16}:/);
    vault.seen.length = 0;
    const transport = new StreamableHTTPClientTransport(new URL(`${publicUrl}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${aliceKey}` } },
    });
    const client = new Client({ name: "production-test", version: "1" });
    await client.connect(transport);
    try {
      expect((await client.listTools()).tools.map((t) => t.name)).toContain("vault__alpha");
      expect(JSON.stringify((await client.callTool({ name: "vault__alpha", arguments: {} })).content)).toContain(
        "tiny called alpha",
      );
    } finally {
      await transport.terminateSession().catch(() => {});
      await client.close();
    }
    expect(vault.seen.length).toBeGreaterThan(0);
    expect(vault.seen.every((h) => h["x-upstream-secret"] === VAULT_SECRET)).toBe(true);
  });

  it("carry the admin worker's refresh to the catalog with its service assertion", async () => {
    const adminKey = await userWithKey("root@acme.test");
    await db.sql`UPDATE users SET is_admin = true WHERE email = 'root@acme.test'`;
    vault.seen.length = 0;
    const put = await fetch(`${publicUrl}/admin/api/servers/probe`, {
      method: "PUT",
      headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json" },
      body: JSON.stringify({ tenant: "acme", url: vault.url, headers: { "X-Upstream-Secret": VAULT_SECRET } }),
    });
    expect(put.status).toBe(201);
    // nobody uses `probe` over MCP: a listing can only come from the admin worker's refresh call
    let status: Record<string, unknown> | undefined;
    for (let i = 0; i < 100 && !status; i++) {
      [status] = await db.sql`SELECT ok FROM server_status WHERE server_id = 'probe'`;
      if (!status) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toEqual({ ok: true });
    expect(vault.seen.length).toBeGreaterThan(0);
  });

  it("keep a proxy's kept-alive connection usable after refusing a body past 64 KiB unread", async () => {
    // Traefik pools its connections to each worker: when workerd dropped one after a refusal
    // that left the body unread, the next request on it, perhaps another user's, got a 502
    const admin = await runContainerConfig("admin", envFor("admin", { ...values, MAX_BODY_BYTES: String(1 << 20) }), {
      catalog: w.catalog,
    });
    const { send, close } = keptAlive(admin.url);
    const answers: KeptAliveAnswer[] = [];
    try {
      // no identity assertion: 401 before anything reads the body
      for (let i = 0; i < 6; i++)
        answers.push(
          await send(
            "POST",
            "/admin/api/tenants",
            { "content-type": "application/json" },
            JSON.stringify({ pad: "p".repeat(200_000) }),
          ),
        );
    } finally {
      close();
      await stop(admin);
    }
    expect(answers.map((a) => a.status)).toEqual([401, 401, 401, 401, 401, 401]);
    expect(answers.slice(1).every((a) => a.reused)).toBe(true);
  });

  it("route an API-key request through edge -> auth -> admin", async () => {
    const res = await fetch(`${publicUrl}/admin/api/whoami`, {
      headers: { authorization: `Bearer ${aliceKey}`, "X-User-Email": "mallory@evil.test" },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ email: "alice@acme.test", admin: false });
  });

  it("serve the full flow for an MCP client: edge -> auth -> mcp -> catalog -> upstream, on real Postgres", async () => {
    await echoThrough(`${publicUrl}/mcp`, aliceKey, "through every container");
  });

  it("keep a session across replicas: initialized through one mcp process, used through another", async () => {
    // a second mcp replica (same config, same variables) behind a second edge
    const mcp2 = await runContainerConfig("mcp", envFor("mcp", values), { catalog: w.catalog });
    const edge2 = await runContainerConfig("edge", envFor("edge", values), { ...w, mcp: mcp2 });
    const headers = {
      authorization: `Bearer ${aliceKey}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
    };
    const rpc = async (base: string, body: unknown, extra: Record<string, string> = {}) => {
      const res = await fetch(`${base}/mcp`, {
        method: "POST",
        headers: { ...headers, ...extra },
        body: JSON.stringify(body),
      });
      const text = await res.text();
      const data = text.trimStart().startsWith("{")
        ? text
        : (text.split("\n").find((l) => l.startsWith("data: ")) ?? "data: null").slice(6);
      return { res, json: JSON.parse(data) };
    };
    const init = await rpc(edge2.url, {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "replicas", version: "1" } },
    });
    expect(init.res.status).toBe(200);
    const session = init.res.headers.get("mcp-session-id")!;
    expect(session).toBeTruthy();
    const sessionHeaders = { "mcp-session-id": session, "mcp-protocol-version": "2025-06-18" };
    expect(
      (
        await fetch(`${publicUrl}/mcp`, {
          method: "POST",
          headers: { ...headers, ...sessionHeaders },
          body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
        })
      ).status,
    ).toBe(202);
    const call = await rpc(
      publicUrl,
      {
        jsonrpc: "2.0",
        id: 2,
        method: "tools/call",
        params: { name: "everything__echo", arguments: { message: "other replica" } },
      },
      sessionHeaders,
    );
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
    const stolen = await fetch(`${publicUrl}/mcp`, {
      method: "POST",
      headers: { ...headers, authorization: `Bearer ${k.key}`, ...sessionHeaders },
      body: JSON.stringify({ jsonrpc: "2.0", id: 4, method: "tools/list", params: {} }),
    });
    expect(stolen.status).toBe(404);
  });
});

/** A Traefik stand-in whose compose addresses (`http://mcp:8083`) lead to these containers. */
function standInFor(workers: Record<"auth" | "catalog" | "mcp" | "admin", Container>): Promise<StandIn> {
  return startTraefikStandIn({ GATEWAY_HOST: "127.0.0.1", CHAT_HOST: "chat.invalid" }, (url) => {
    const u = new URL(url);
    const c = workers[u.hostname as keyof typeof workers];
    // the forwardAuth address is the auth container's forward-auth socket, not its public one
    const port =
      u.hostname === "auth" && Number(u.port) === FORWARD_AUTH_PORT
        ? c?.sockets[FORWARD_AUTH_SOCKET]
        : Number(u.port) === WORKER_PORTS[u.hostname as keyof typeof WORKER_PORTS]
          ? c?.port
          : undefined;
    if (!port) throw new Error(`unexpected address ${url}`);
    return `http://127.0.0.1:${port}${u.pathname === "/" ? "" : u.pathname}`;
  });
}

async function userWithKey(email: string): Promise<string> {
  await db.sql`INSERT INTO users (email) VALUES (${email}) ON CONFLICT DO NOTHING`;
  const k = await generateApiKey();
  await insertApiKey(db.sql, email, "test", k);
  return k.key;
}

const MCP_HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" };

describe("behind a Traefik stand-in built from traefik/dynamic/*.yml", () => {
  let traefik: StandIn;
  beforeAll(async () => {
    traefik = await standInFor(w);
  });
  afterAll(() => traefik?.close());

  it("asks for credentials on /mcp, hides the forwardAuth endpoint, answers health and redirects /", async () => {
    const res = await fetch(`${traefik.url}/mcp`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
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

  it.each(VERIFY_SPELLINGS)("never answers the forwardAuth step to a public request: %s", async (spelling) => {
    // sent verbatim: the stand-in routes /auth/* straight to the auth worker's public app, as Traefik does
    const res = await rawRequest(traefik.url, spelling, {
      authorization: `Bearer ${aliceKey}`,
      "x-forwarded-uri": "/mcp",
      "x-forwarded-method": "POST",
    });
    expect([400, 404], `${spelling}: ${res.status} ${res.body}`).toContain(res.status);
    for (const h of IDENTITY_HEADERS) expect(res.headers[h.toLowerCase()], `${spelling}: ${h}`).toBeUndefined();
  });

  it("carries an MCP client through forwardAuth to the mcp worker and the upstream", async () => {
    await echoThrough(`${traefik.url}/mcp`, aliceKey, "via traefik's rules");
  });

  it("replaces client-sent identity headers and drops their aliases", async () => {
    const res = await fetch(`${traefik.url}/admin/api/whoami`, {
      headers: {
        authorization: `Bearer ${aliceKey}`,
        "X-User-Email": "mallory@evil.test",
        X_User_Admin: "true",
        "X.User.Email": "mallory@evil.test",
      },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ email: "alice@acme.test", admin: false });
    const forged = await fetch(`${traefik.url}/admin/api/whoami`, {
      headers: { "X-User-Email": "alice@acme.test", "X-User-Admin": "true", X_Identity_Assertion: "x" },
    });
    expect(forged.status).toBe(401);
  });

  it("refuses an oversized body with the workers' own 413 JSON (JSON-RPC on /mcp), declared or streamed", async () => {
    const big = "x".repeat(Number(values.MAX_BODY_BYTES) + 1024);
    const auth = { authorization: `Bearer ${aliceKey}` };
    const mcp = await fetch(`${traefik.url}/mcp`, {
      method: "POST",
      headers: { ...auth, ...MCP_HEADERS },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping", params: { big } }),
    });
    expect(mcp.status).toBe(413);
    expect(mcp.headers.get("content-type")).toContain("application/json");
    expect(await mcp.json()).toMatchObject({
      jsonrpc: "2.0",
      id: null,
      error: { code: -32600, data: { error: "body_too_large" } },
    });
    // Traefik does not buffer /mcp: a chunked body reaches the mcp worker, which stops reading at
    // the limit (asked directly, with the assertion forwardAuth would add)
    const assertion = await signAssertion(
      { email: "alice@acme.test", groups: ["acme-users"], admin: false, via: "apikey" },
      values.IDENTITY_SECRET!,
    );
    const stream = new ReadableStream({
      start(ctl) {
        for (let i = 0; i < big.length; i += 8192) ctl.enqueue(new TextEncoder().encode(big.slice(i, i + 8192)));
        ctl.close();
      },
    });
    const chunked = await fetch(`${w.mcp.url}/mcp`, {
      method: "POST",
      headers: { [ASSERTION_HEADER]: assertion, ...MCP_HEADERS },
      body: stream,
      duplex: "half",
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(((await chunked.json()) as any).error.data.error).toBe("body_too_large");
    // the admin API, before any admin check (alice is no admin)
    const admin = await fetch(`${traefik.url}/admin/api/tenants/big`, {
      method: "PUT",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ name: big }),
    });
    expect(admin.status).toBe(413);
    expect(await admin.json()).toMatchObject({ error: "body_too_large" });
    expect(admin.headers.get("strict-transport-security")).toMatch(/^max-age=/);
  });

  it("refuses a wrong media type with 415 JSON (JSON-RPC on /mcp)", async () => {
    const auth = { authorization: `Bearer ${aliceKey}` };
    const mcp = await fetch(`${traefik.url}/mcp`, {
      method: "POST",
      headers: { ...auth, "content-type": "text/plain" },
      body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
    });
    expect(mcp.status).toBe(415);
    expect(await mcp.json()).toMatchObject({
      jsonrpc: "2.0",
      id: null,
      error: { code: -32600, data: { error: "unsupported_media_type" } },
    });
    const form = await fetch(`${traefik.url}/admin/api/tenants/x`, {
      method: "PUT",
      headers: { ...auth, "content-type": "application/x-www-form-urlencoded" },
      body: "name=x",
    });
    expect(form.status).toBe(415);
    expect(await form.json()).toMatchObject({ error: "unsupported_media_type" });
  });
});

describe("the per-user rate limit without the edge in front", () => {
  const LIMIT = 5;
  let traefik: StandIn;
  let limited: { mcp: Container; admin: Container };
  beforeAll(async () => {
    // a low limit on their own mcp and admin processes, so the other tests' users are not affected
    const low = { RATE_LIMIT_PER_MINUTE: String(LIMIT), RATE_LIMIT_SYNC_MS: "100" };
    const [mcp, admin] = await Promise.all([
      runContainerConfig("mcp", { ...envFor("mcp", values), ...low }, { catalog: w.catalog }),
      runContainerConfig("admin", { ...envFor("admin", values), ...low }, { catalog: w.catalog }),
    ]);
    limited = { mcp, admin };
    traefik = await standInFor({ auth: w.auth, catalog: w.catalog, mcp, admin });
  });
  afterAll(async () => {
    await traefik?.close();
    if (limited) await Promise.all([stop(limited.mcp), stop(limited.admin)]);
  });

  it("gives 429 with Retry-After past the budget, one budget over mcp and admin, counted by the verified identity", async () => {
    // the windows are whole minutes: do not start a run that could straddle two
    const left = 60_000 - (Date.now() % 60_000);
    if (left < 10_000) await new Promise((r) => setTimeout(r, left + 200));
    const rita = { authorization: `Bearer ${await userWithKey("rita@acme.test")}` };
    const sam = await userWithKey("sam@acme.test");
    const whoami = () => fetch(`${traefik.url}/admin/api/whoami`, { headers: rita });
    const ping = () =>
      fetch(`${traefik.url}/mcp`, {
        method: "POST",
        headers: { ...rita, ...MCP_HEADERS },
        body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
      });
    const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
    for (let i = 0; i < 3; i++) expect((await whoami()).status).toBe(200);
    await wait(400); // the admin worker has flushed its counts (RATE_LIMIT_SYNC_MS)
    for (let i = 0; i < LIMIT - 3; i++) expect((await ping()).status).not.toBe(429);
    const mcp = await ping();
    expect(mcp.status).toBe(429);
    const retry = Number(mcp.headers.get("retry-after"));
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(60);
    expect(await mcp.json()).toMatchObject({
      jsonrpc: "2.0",
      id: null,
      error: { code: -32000, data: { error: "rate_limited" } },
    });
    await wait(400); // and the mcp worker its last admitted one
    const admin = await whoami();
    expect(admin.status).toBe(429);
    expect(Number(admin.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(await admin.json()).toMatchObject({ error: "rate_limited" });
    // another user keeps their own budget
    expect(
      (await fetch(`${traefik.url}/admin/api/whoami`, { headers: { authorization: `Bearer ${sam}` } })).status,
    ).toBe(200);
    // the subject is the signed assertion, not the plain header: sam's assertion claiming to be rita passes
    const assertion = await signAssertion(
      { email: "sam@acme.test", groups: [], admin: false, via: "apikey" },
      values.IDENTITY_SECRET!,
    );
    const direct = await fetch(`${limited.admin.url}/admin/api/whoami`, {
      headers: { [ASSERTION_HEADER]: assertion, "X-User-Email": "rita@acme.test" },
    });
    expect(direct.status).toBe(200);
    expect(await direct.json()).toMatchObject({ email: "sam@acme.test" });
    await wait(400);
    const [row] = await db.sql`SELECT sum(count)::int AS n FROM rate_limit_counters WHERE subject = 'rita@acme.test'`;
    expect(row!.n).toBe(LIMIT);
  });
});
