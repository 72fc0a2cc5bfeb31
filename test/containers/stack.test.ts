/**
 * The production containers, built and run for real (`npm run test:containers`, issue 17).
 *
 * The images are built from compose/Dockerfile exactly as `docker compose up --build` builds
 * them (one `podman build -f compose/Dockerfile --target <t>` per image, context the repo root),
 * and compose/docker-compose.local-test.yml is run as compose runs it by ./compose.ts: Postgres,
 * the one-shot migrate service, auth, catalog, mcp and admin as separate containers on the
 * compose networks, the two upstream containers (`files`, `github`) and Traefik in front,
 * published on a free loopback port (the test's one override of the file: 127.0.0.1:8000 may be
 * taken). Open WebUI is not started (its image cannot be had here; nothing below needs it).
 *
 * Stand-ins, because no registry is reachable (./base-images.ts): Traefik is
 * test/integration/traefik-standin.ts in an image tagged traefik:v3.7.13 (same dynamic files,
 * same static file for the entry point); github-mcp-server is a small SDK-built stdio server.
 * Everything else is real: Debian 12 from deb.debian.org, Node 20 and PostgreSQL 17 from npm,
 * the project's own images.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { freePort } from "../../scripts/lib/ports";
import { ensureBaseImages } from "./base-images";
import {
  buildImages,
  containerName,
  down,
  health,
  loadProject,
  logs,
  runArgs,
  scaleUp,
  state,
  up,
  type Project,
} from "./compose";
import { podman } from "./podman";

const ROOT = resolve(import.meta.dirname, "../..");
const FILE = resolve(ROOT, "compose/docker-compose.local-test.yml");
const GATEWAY = "gateway.localhost";
const PUBLIC = `http://${GATEWAY}:8000`; // what PUBLIC_URL says; requests carry this Host
const log = (s: string) => console.log(`[containers] ${s}`);

const b64 = () => randomBytes(48).toString("base64");
const ENV: Record<string, string> = {
  IDENTITY_SECRET: b64(),
  SESSION_SECRET: b64(),
  COOKIE_SECRET: b64(),
  SERVICE_SECRET: b64(),
  SECRETS_KEY: b64(),
  WEBUI_SECRET_KEY: b64(),
  POSTGRES_PASSWORD: randomBytes(32).toString("hex"),
  ADMIN_EMAIL: "admin@localhost",
  ADMIN_API_KEY: `mcpgw_${randomBytes(32).toString("hex")}`,
};
const SERVICES = ["postgres", "migrate", "catalog", "auth", "mcp", "admin", "files", "github", "traefik"];

let project: Project;
let port = 0;

/** fetch through the published port with the public Host header (fetch itself cannot set Host). */
const gatewayFetch: typeof fetch = async (input, init) => {
  const req = new Request(input, init);
  const u = new URL(req.url);
  const body = req.body ? Buffer.from(await req.arrayBuffer()) : undefined;
  const headers: Record<string, string> = {};
  req.headers.forEach((v, k) => (headers[k] = v));
  headers.host = u.host;
  if (body) headers["content-length"] = String(body.length);
  return new Promise<Response>((ok, fail) => {
    const r = httpRequest(
      { host: "127.0.0.1", port, method: req.method, path: u.pathname + u.search, headers, agent: false },
      (res) => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers))
          if (v !== undefined) for (const x of [v].flat()) h.append(k, x);
        const status = res.statusCode ?? 502;
        const empty = status === 204 || status === 304 || req.method === "HEAD";
        if (empty) res.resume();
        ok(new Response(empty ? null : (Readable.toWeb(res) as ReadableStream), { status, headers: h }));
      },
    );
    r.on("error", fail);
    init?.signal?.addEventListener("abort", () => r.destroy(new Error("aborted")));
    r.end(body);
  });
};

async function api(method: string, path: string, body?: unknown, key = ENV.ADMIN_API_KEY!) {
  const r = await gatewayFetch(`${PUBLIC}/admin/api/${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

async function mcpClient(
  key: string,
  path = "/mcp",
): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const transport = new StreamableHTTPClientTransport(new URL(`${PUBLIC}${path}`), {
    fetch: gatewayFetch,
    requestInit: { headers: { authorization: `Bearer ${key}` } },
  });
  const client = new Client({ name: "containers-test", version: "1.0.0" });
  await client.connect(transport);
  return { client, transport };
}

const text = (r: unknown) =>
  ((r as { content: { type: string; text: string }[] }).content ?? []).map((c) => c.text).join("");

/** Runs node -e `script` inside a container; its stdout. */
async function nodeIn(container: string, script: string): Promise<string> {
  return (await podman(["exec", container, "node", "-e", script], { timeoutMs: 60_000 })).stdout.trim();
}

let userKey = "";

/**
 * Waits until the workers' names resolve again in their containers after a container leaves a
 * network (migrate exiting once the stack is up; a container killed, stopped or removed). Debian
 * 12's aardvark-dns 1.4 (Podman's DNS) tears down all its listeners on each reload
 * (containers/aardvark-dns#389, fixed in 1.11), and here it then answered nothing for 6 to 57 s
 * (longer on a loaded machine): the stand-in cannot reach auth (502) and the workers cannot reach
 * Postgres (503 "try again shortly"). That is Podman's doing, not the gateway's, and the tests
 * after it would measure it; how long it took is logged.
 */
async function namesResolve(opts: { mcp?: string } = {}, ms = 120_000): Promise<void> {
  // (`mcp`: the mcp container to ask, when the first replica is stopped)
  const checks: [string, string[]][] = [
    [containerName(project, "traefik"), ["auth", "admin", "mcp"]],
    [containerName(project, "auth"), ["postgres"]],
    [containerName(project, "admin"), ["postgres", "catalog.internal"]],
    [opts.mcp ?? containerName(project, "mcp"), ["postgres", "catalog.internal", "files", "github"]],
  ];
  const resolves = async ([container, names]: [string, string[]]) =>
    (
      await podman(["exec", container, "getent", "hosts", ...names], {
        allowFail: true,
        timeoutMs: 20_000,
      })
    ).code === 0;
  const t0 = Date.now();
  for (;;) {
    const failing = [];
    for (const check of checks) if (!(await resolves(check))) failing.push(check[0]);
    if (!failing.length) break;
    if (Date.now() - t0 > ms) throw new Error(`names still do not resolve in ${failing.join(", ")} after ${ms} ms`);
    await new Promise((ok) => setTimeout(ok, 500));
  }
  const took = Date.now() - t0;
  if (took > 1000) log(`names resolve again in every worker's container after ${took} ms`);
}

/** The last lines each of `services` logged, for a failure's message: what the workers behind it saw. */
async function lastLines(services: string[]): Promise<string> {
  const each = await Promise.all(
    services.map(async (svc) => {
      const lines = (await logs(containerName(project, svc)).catch(String)).split("\n").slice(-30);
      return `\n--- ${svc}, last lines:\n${lines.join("\n")}`;
    }),
  );
  return each.join("");
}

/**
 * `fn`, again while the gateway answers "try again shortly" (its 503 / JSON-RPC -32603 for a
 * dependency it cannot reach yet): a container just started on this 2-core machine, shared and
 * loaded, can take longer than the 5 s Postgres connect timeout at first. Also again on the
 * stand-in's empty 502: right after a worker container restarts or a replica stops, the name
 * can still resolve to the address that no longer answers, or not at all (see
 * {@link namesResolve}; Traefik's provider likewise follows container events). Each retry is logged.
 */
async function retrying<T>(what: string, fn: () => Promise<T>, ms = 30_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      // the SDK's StreamableHTTPError carries the HTTP status as `code`
      const unreachable = (e as { code?: unknown }).code === 502;
      if (!(/try again shortly/.test(String(e)) || unreachable) || Date.now() > until) throw e;
      log(`${what}: ${String(e).slice(0, 160)}; again in 1 s`);
      await new Promise((ok) => setTimeout(ok, 1000));
    }
  }
}

beforeAll(async () => {
  const t0 = Date.now();
  await ensureBaseImages((s) => log(`base: ${s}`));
  log(`base images ready (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  project = loadProject(FILE, "mcpgw-ct", ENV);
  await down(project);
  await buildImages(project, SERVICES, log);
  log(`project images built (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  port = await freePort();
  const published = project.services.traefik!.ports;
  expect(published).toEqual(["127.0.0.1:8000:80"]);
  await up(project, { services: SERVICES, ports: { traefik: [`127.0.0.1:${port}:80`] }, log });
  log(`stack up (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  // the stand-in answers once the workers behind it do (traefik depends on their health)
  for (let i = 0; i < 60; i++) {
    const r = await gatewayFetch(`${PUBLIC}/healthz`).catch(() => null);
    if (r?.status === 200) break;
    await new Promise((ok) => setTimeout(ok, 500));
  }
  await namesResolve();
}, 900_000);

afterAll(async () => {
  if (!project) return;
  if (process.env.MCPGW_CONTAINERS_KEEP) {
    log(`kept running (MCPGW_CONTAINERS_KEEP): podman ps --filter label=com.docker.compose.project=${project.name}`);
    return;
  }
  await down(project);
}, 120_000);

describe("the images", () => {
  it("runtime, migrate and upstreams images are small and run as non-root", async () => {
    const sizes: Record<string, number> = {};
    for (const image of ["mcpgw-worker:latest", "mcpgw-migrate:latest", "mcpgw-upstreams:latest"]) {
      const r = await podman(["image", "inspect", "--format", "{{.Size}} {{.Config.User}}", image]);
      const [size, user] = r.stdout.trim().split(" ");
      sizes[image] = Number(size);
      expect(user, image).toMatch(/^(10001:10001|node)$/);
    }
    log(
      `image sizes (MB): ${Object.entries(sizes)
        .map(([k, v]) => `${k} ${(v / 1e6).toFixed(0)}`)
        .join(", ")}`,
    );
    // Debian slim (~75 MB) + workerd (~110 MB) + bundles: no node_modules, no Node in the runtime stage
    expect(sizes["mcpgw-worker:latest"]).toBeLessThan(260e6);
    // the image's own HEALTHCHECK (kept by Docker; Podman keeps it with --format docker)
    const hc = JSON.parse(
      (await podman(["image", "inspect", "--format", "{{json .Config.Healthcheck}}", "mcpgw-worker:latest"])).stdout,
    ) as { Test: string[] };
    expect(hc.Test).toEqual(["CMD", "/app/healthcheck.sh"]);
    const files = await podman([
      "exec",
      containerName(project, "mcp"),
      "sh",
      "-c",
      "id -u; ls /app; command -v node npm || true",
    ]);
    expect(files.stdout.split("\n")[0]).toBe("10001");
    expect(files.stdout).not.toMatch(/node_modules|\/node\b|\/npm\b/);
  });

  it("every worker's own healthcheck passes; the root filesystem is read-only", async () => {
    for (const svc of ["catalog", "auth", "mcp", "admin", "postgres", "files", "github", "traefik"]) {
      expect(await health(containerName(project, svc)), svc).toBe(true);
      expect((await state(containerName(project, svc))).health, svc).toBe("healthy");
    }
    const w = await podman(["exec", containerName(project, "auth"), "sh", "-c", "touch /app/x 2>&1; echo rc=$?"], {
      allowFail: true,
    });
    expect(w.stdout).toMatch(/Read-only file system/);
    const m = await state(containerName(project, "migrate"));
    expect(m).toMatchObject({ status: "exited", exitCode: 0 });
    expect(await logs(containerName(project, "migrate"))).toMatch(/admin: admin@localhost/);
  });
});

describe("through the running topology", () => {
  it("docs/deploy.md steps 5 and 6 as written (check the endpoint, register the upstreams, a user and a key)", async () => {
    const doc = readFileSync(resolve(ROOT, "docs/deploy.md"), "utf8");
    const block = (heading: string) => doc.slice(doc.indexOf(heading)).match(/```sh\n([\s\S]*?)```/)![1]!;
    const check = block("5. **Check the endpoint:**");
    const register = block("6. **Register the upstream servers**");
    expect(register).toContain("api PUT servers/files");
    const work = mkdtempSync(join(tmpdir(), "mcpgw-deploy-"));
    try {
      writeFileSync(join(work, ".env"), `GATEWAY_HOST=${GATEWAY}\nADMIN_API_KEY=${ENV.ADMIN_API_KEY}\n`);
      // the one substitution: https://$GATEWAY_HOST is this stack's plain-HTTP port (local-test shape)
      const prelude = `
        cd "$WORK"; GATEWAY_HOST=${GATEWAY}
        curl() {
          local a=() x
          local from="https://$GATEWAY_HOST"
          for x in "$@"; do a+=("\${x/#$from/http://127.0.0.1:$PORT}"); done
          command curl -sS --max-time 30 -H "Host: $GATEWAY_HOST:8000" "\${a[@]}"
        }
      `;
      const run = (script: string) =>
        spawnSync("bash", ["--norc", "--noprofile", "-euo", "pipefail", "-c", prelude + script], {
          env: { PATH: process.env.PATH!, PS1: "", WORK: work, PORT: String(port) },
          encoding: "utf8",
          timeout: 120_000,
        });
      // one shell, as the operator's: step 6 uses what step 5's `. ./.env` set
      const both = run(`${check}\necho "<<<step 6>>>"\n${register}`);
      // a failed step names what the workers behind it logged (a 503 here once, not reproduced)
      const behind = both.status === 0 ? "" : await lastLines(["traefik", "admin", "catalog", "postgres"]);
      expect(both.status, both.stderr + both.stdout + behind).toBe(0);
      const [five, six] = both.stdout.split("<<<step 6>>>\n") as [string, string];
      expect(five).toMatch(/"status":"ok"/);
      expect(five).toContain("admin@localhost");
      expect(five).toMatch(/HTTP\/1\.1 401 /);
      expect(five).toMatch(/^www-authenticate: Bearer/im);
      const key = JSON.parse(six.trim().split("\n").at(-1)!) as { key: string };
      expect(key.key).toBeTruthy();
      userKey = key.key;
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it("the full MCP flow with an API key: tools/list, tools/call on both upstreams", async () => {
    expect((await api("GET", "whoami")).status).toBe(200);
    const denied = await gatewayFetch(`${PUBLIC}/mcp`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(denied.status).toBe(401);
    expect(denied.headers.get("www-authenticate")).toMatch(/Bearer/);

    // under a loaded host the workers' first Postgres connections can time out: they answer 503
    // "try again shortly", which a client retries (as `retrying` does; it logs each retry)
    const { client } = await retrying("initialize", () => mcpClient(userKey));
    const names = (await retrying("tools/list", () => client.listTools())).tools.map((t) => t.name);
    expect(names).toContain("files__list_allowed_directories");
    expect(names).toContain("github__get_me");
    expect(text(await client.callTool({ name: "files__list_allowed_directories", arguments: {} }))).toContain("/data");
    expect(JSON.parse(text(await client.callTool({ name: "github__get_me", arguments: {} })))).toMatchObject({
      standIn: true,
      readOnly: true,
    });
    await client.close();
  });

  it("a grant change is in force within 2 s", async () => {
    const { client } = await mcpClient(userKey);
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    expect((await api("PUT", "groups/engineers", { tenants: [] })).status).toBeLessThan(300);
    const t = Date.now();
    let tools = 1;
    while (Date.now() - t < 5000) {
      tools = (await client.listTools()).tools.length;
      if (tools === 0) break;
      await new Promise((ok) => setTimeout(ok, 100));
    }
    const took = Date.now() - t;
    log(`grant withdrawn: no tools after ${took} ms`);
    expect(tools).toBe(0);
    expect(took).toBeLessThan(2000);
    expect((await api("PUT", "groups/engineers", { tenants: ["engineering"] })).status).toBeLessThan(300);
    await client.close();
  });

  it("the mcp container killed and restarted: the session goes on", async () => {
    const { client, transport } = await mcpClient(userKey);
    const until = Date.now() + 5000;
    while ((await client.listTools()).tools.length === 0 && Date.now() < until)
      await new Promise((ok) => setTimeout(ok, 100));
    const session = transport.sessionId;
    const c = containerName(project, "mcp");
    const started = (await podman(["inspect", "--format", "{{.State.StartedAt}}", c])).stdout.trim();
    await podman(["kill", c]);
    await podman(["start", c], { allowFail: true }); // `restart: unless-stopped` may already have
    for (let i = 0; i < 60 && !(await health(c)); i++) await new Promise((ok) => setTimeout(ok, 500));
    expect((await podman(["inspect", "--format", "{{.State.StartedAt}}", c])).stdout.trim()).not.toBe(started);
    await namesResolve();
    const r = await retrying("call after the restart", () =>
      client.callTool({ name: "files__list_allowed_directories", arguments: {} }),
    );
    expect(text(r)).toContain("/data");
    expect(transport.sessionId).toBe(session);
    await client.close();
  });

  it("a second mcp replica continues a session the first one started", async () => {
    const { client, transport } = await mcpClient(userKey);
    await client.listTools();
    const session = transport.sessionId;
    const second = await scaleUp(project, "mcp", 2);
    for (let i = 0; i < 60 && !(await health(second)); i++) await new Promise((ok) => setTimeout(ok, 500));
    const first = containerName(project, "mcp");
    await podman(["stop", "-t", "2", first]);
    try {
      await namesResolve({ mcp: second });
      expect((await state(first)).status).toBe("exited");
      const r = await retrying("call on the second replica", () =>
        client.callTool({ name: "files__list_allowed_directories", arguments: {} }),
      );
      expect(text(r)).toContain("/data");
      expect(transport.sessionId).toBe(session);
      expect(await logs(second)).toBeDefined();
    } finally {
      await podman(["start", first]);
      for (let i = 0; i < 60 && !(await health(first)); i++) await new Promise((ok) => setTimeout(ok, 500));
      await podman(["rm", "-f", "-t", "2", second]);
      await namesResolve();
      await client.close();
    }
  });

  it("the catalog container recreated alone keeps its fixed address: mcp still reaches it", async () => {
    const c = containerName(project, "catalog");
    const ip = async () =>
      (
        await podman([
          "inspect",
          "--format",
          `{{(index .NetworkSettings.Networks "${project.name}_internal").IPAddress}}`,
          c,
        ])
      ).stdout.trim();
    expect(await ip()).toBe(project.services.catalog!.networks.internal!.ipv4_address);
    await podman(["rm", "-f", "-t", "2", c]);
    await podman(runArgs(project, "catalog"));
    for (let i = 0; i < 60 && !(await health(c)); i++) await new Promise((ok) => setTimeout(ok, 500));
    expect(await ip()).toBe("172.29.82.10");
    await namesResolve();
    // a server change makes mcp ask the catalog again (new catalog version), through its `external` address
    // (the admin worker's 503 "database unavailable" under load: see `retrying`)
    let put = await api("PUT", "servers/github", {
      tenant: "engineering",
      url: "http://github:8000/mcp",
      enabled: false,
    });
    // (502: the stand-in could not reach a worker; it logs why in the traefik container's log)
    const until = Date.now() + 30_000;
    while ((put.status === 503 || put.status === 502) && Date.now() < until) {
      log(`gateway answered ${put.status} after the catalog's restart: ${JSON.stringify(put.body)}; again in 1 s`);
      await new Promise((ok) => setTimeout(ok, 1000));
      put = await api("PUT", "servers/github", {
        tenant: "engineering",
        url: "http://github:8000/mcp",
        enabled: false,
      });
    }
    expect(
      put.status,
      `${JSON.stringify(put.body)}${put.status < 300 ? "" : await lastLines(["traefik", "auth", "admin", "catalog", "postgres"])}`,
    ).toBeLessThan(300);
    // mcp reaches the catalog as catalog.internal (its fixed address on `internal`); plain
    // `catalog` also resolved to its address on `upstream`, which a recreation changes: then mcp
    // answered "catalog is unavailable" until it restarted (found here)
    const { client } = await retrying("initialize after the catalog's restart", () => mcpClient(userKey));
    const listed = Date.now() + 10_000;
    let names: string[] = [];
    do {
      names = (await retrying("tools/list", () => client.listTools())).tools.map((t) => t.name);
      if (!names.includes("github__get_me")) break;
      await new Promise((ok) => setTimeout(ok, 200));
    } while (Date.now() < listed);
    expect(names).toContain("files__list_allowed_directories");
    expect(names).not.toContain("github__get_me");
    expect(
      text(
        await retrying("tools/call", () => client.callTool({ name: "files__list_allowed_directories", arguments: {} })),
      ),
    ).toContain("/data");
    expect(
      (await api("PUT", "servers/github", { tenant: "engineering", url: "http://github:8000/mcp" })).status,
    ).toBeLessThan(300);
    await client.close();
  });

  it("an upstream container reaches neither Postgres nor the workers' internal ports; catalog and mcp refuse it", async () => {
    const files = containerName(project, "files");
    const pgIp = (
      await podman([
        "inspect",
        "--format",
        `{{(index .NetworkSettings.Networks "${project.name}_internal").IPAddress}}`,
        containerName(project, "postgres"),
      ])
    ).stdout.trim();
    expect(pgIp).toMatch(/^172\.29\.82\./);
    const probe = `
      const net = require("node:net");
      const tcp = (host, port) => new Promise((ok) => {
        const s = net.connect({ host, port, timeout: 2000 });
        s.on("connect", () => { s.destroy(); ok("open"); });
        s.on("timeout", () => { s.destroy(); ok("timeout"); });
        s.on("error", (e) => ok(e.code));
      });
      const http = (url, headers = {}) => fetch(url, { headers, signal: AbortSignal.timeout(5000) }).then((r) => r.status, (e) => String(e.cause?.code ?? e.name));
      (async () => console.log(JSON.stringify({
        postgresByName: await tcp("postgres", 5432),
        postgresByIp: await tcp(${JSON.stringify(pgIp)}, 5432),
        auth: await tcp("auth", 8081),
        forwardAuth: await tcp("auth", 8085),
        admin: await tcp("admin", 8084),
        catalogInternal: await http("http://catalog:8082/internal/catalog"),
        mcpWithoutAssertion: await http("http://mcp:8083/mcp", { "x-mcpgw-user": "admin@localhost" }),
        internet: await tcp("deb.debian.org", 80),
      })))();`;
    const r = JSON.parse(await nodeIn(files, probe)) as Record<string, string | number>;
    log(`from the files container: ${JSON.stringify(r)}`);
    expect(r.postgresByName).toBe("ENOTFOUND");
    expect(r.postgresByIp).not.toBe("open");
    for (const k of ["auth", "forwardAuth", "admin"]) expect(r[k], k).toBe("ENOTFOUND");
    expect(r.catalogInternal).toBeGreaterThanOrEqual(401);
    expect(r.catalogInternal).toBeLessThan(500);
    expect(r.mcpWithoutAssertion).toBe(401);
    expect(r.internet).not.toBe("open");
  });
});
