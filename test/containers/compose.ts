/**
 * A small Docker Compose driver over Podman, for the compose files this repository ships
 * (Podman 4.3 from Debian has no `podman compose`, and Debian's podman-compose 1.0.3 does not
 * wait for `service_healthy` / `service_completed_successfully`). It reads the file as Compose
 * does - YAML merge keys, `${VAR}`, `${VAR:-default}`, `${VAR:?error}`, `$$` interpolation from
 * the given environment, paths relative to the file's directory - and starts each service as
 * `docker compose up` would:
 *
 *   networks   `<project>_<name>`, `internal: true` -> --internal, ipam subnet / ip_range
 *   volumes    named -> `<project>_<name>`, relative binds resolved, `:ro` kept
 *   services   container `<project>-<service>-<n>` on each of its networks with the service
 *              name (and `aliases`) as DNS aliases, ipv4_address, environment, command,
 *              read_only, tmpfs, cap_drop, security_opt, shm_size, restart, logging,
 *              deploy.resources.limits (cpus, memory), ports, healthcheck
 *   build      `podman build -f <dockerfile> --target <target> -t <image> <context>` per image
 *   depends_on service_started / service_healthy / service_completed_successfully
 *
 * One difference, stated: Podman runs healthchecks from systemd timers, and there is no systemd
 * here, so the driver runs the container's own healthcheck (`podman healthcheck run`) itself:
 * every second while a dependant waits for it to be healthy (instead of every `interval`), and
 * on demand (`health`).
 */
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { parseDocument } from "yaml";
import { podman, podmanBuild } from "./podman";

type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface Service {
  name: string;
  image: string;
  build?: { context: string; dockerfile?: string; target?: string };
  command?: string[];
  environment: Record<string, string>;
  networks: Record<string, { aliases?: string[]; ipv4_address?: string }>;
  volumes: string[];
  ports: string[];
  depends_on: Record<string, { condition: string }>;
  healthcheck?: {
    test: string[] | string;
    interval?: string;
    timeout?: string;
    retries?: number;
    start_period?: string;
  };
  raw: Any;
}

export interface Project {
  name: string;
  file: string;
  dir: string;
  services: Record<string, Service>;
  networks: Record<string, Any>;
  volumes: Record<string, Any>;
}

/** Compose interpolation of one string. */
export function interpolate(s: string, env: Record<string, string | undefined>): string {
  return s.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])((?:[^}])*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (m, name?: string, op?: string, arg?: string, bare?: string) => {
      if (m === "$$") return "$";
      if (bare) return env[bare] ?? "";
      const v = env[name!];
      const unset = op?.startsWith(":") ? !v : v === undefined;
      if (op?.endsWith("-")) return unset ? interpolate(arg ?? "", env) : v!;
      if (op?.endsWith("?")) {
        if (unset) throw new Error(`required variable ${name} is missing a value: ${arg}`);
        return v!;
      }
      return v ?? "";
    },
  );
}

function deep(v: Any, env: Record<string, string | undefined>): Any {
  if (typeof v === "string") return interpolate(v, env);
  if (Array.isArray(v)) return v.map((x) => deep(x, env));
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, deep(x, env)]));
  return v;
}

const list = <T>(v: T[] | Record<string, Any> | undefined): Record<string, Any> =>
  Array.isArray(v)
    ? Object.fromEntries(v.map((n) => [n, {}]))
    : Object.fromEntries(Object.entries(v ?? {}).map(([k, x]) => [k, x ?? {}]));

/** Reads a compose file as `docker compose -p name --env-file ... -f file` would. */
export function loadProject(file: string, name: string, env: Record<string, string | undefined>): Project {
  const doc = parseDocument(readFileSync(file, "utf8"), { merge: true }).toJS({ maxAliasCount: -1 }) as Any;
  const data = deep(doc, env);
  const dir = dirname(file);
  const services: Record<string, Service> = {};
  for (const [svc, s] of Object.entries<Any>(data.services)) {
    const environment: Record<string, string> = {};
    if (Array.isArray(s.environment))
      for (const kv of s.environment as string[]) environment[kv.split("=")[0]!] = kv.slice(kv.indexOf("=") + 1);
    else for (const [k, v] of Object.entries(s.environment ?? {})) environment[k] = v === null ? "" : String(v);
    const build = typeof s.build === "string" ? { context: s.build } : s.build;
    services[svc] = {
      name: svc,
      image: s.image ?? `${name}-${svc}`,
      build: build ? { ...build, context: resolve(dir, build.context) } : undefined,
      command: typeof s.command === "string" ? ["/bin/sh", "-c", s.command] : s.command,
      environment,
      networks: s.networks ? list(s.networks) : { default: {} },
      volumes: s.volumes ?? [],
      ports: s.ports ?? [],
      depends_on: Array.isArray(s.depends_on)
        ? Object.fromEntries(s.depends_on.map((d: string) => [d, { condition: "service_started" }]))
        : (s.depends_on ?? {}),
      healthcheck: s.healthcheck,
      raw: s,
    };
  }
  return { name, file, dir, services, networks: list(data.networks), volumes: list(data.volumes) };
}

export const containerName = (p: Project, svc: string, n = 1) => `${p.name}-${svc}-${n}`;
const netName = (p: Project, n: string) => `${p.name}_${n}`;

/** Go durations as podman takes them ("15s"); compose's are the same syntax. */
const dur = (d: string | undefined, dflt: string) => d ?? dflt;

/** The `podman run` arguments for replica `n` of `svc` (ports may be overridden: a test port). */
export function runArgs(p: Project, svc: string, n = 1, portOverride?: string[]): string[] {
  const s = p.services[svc]!;
  const r = s.raw;
  const a = [
    "run",
    "-d",
    "--name",
    containerName(p, svc, n),
    "--label",
    `com.docker.compose.project=${p.name}`,
    "--label",
    `com.docker.compose.service=${svc}`,
  ];
  for (const [net, opts] of Object.entries(s.networks)) {
    const o = [`alias=${svc}`, ...(opts.aliases ?? []).map((x) => `alias=${x}`)];
    if (opts.ipv4_address) o.push(`ip=${opts.ipv4_address}`);
    a.push("--network", `${netName(p, net)}:${o.join(",")}`);
  }
  for (const [k, v] of Object.entries(s.environment)) a.push("-e", `${k}=${v}`);
  for (const v of s.volumes) {
    const [src, dst, mode] = v.split(":") as [string, string, string | undefined];
    const host = src.startsWith(".") || isAbsolute(src) ? resolve(p.dir, src) : `${p.name}_${src}`;
    a.push("-v", `${host}:${dst}${mode ? `:${mode}` : ""}`);
  }
  for (const port of portOverride ?? s.ports) a.push("-p", port);
  if (r.read_only) a.push("--read-only");
  for (const t of [r.tmpfs ?? []].flat()) a.push("--tmpfs", t);
  for (const c of r.cap_drop ?? []) a.push("--cap-drop", c);
  for (const c of r.cap_add ?? []) a.push("--cap-add", c);
  for (const o of r.security_opt ?? []) a.push("--security-opt", o);
  if (r.shm_size) a.push("--shm-size", String(r.shm_size));
  if (r.restart && r.restart !== "no") a.push("--restart", r.restart);
  if (r.user) a.push("--user", String(r.user));
  if (r.logging?.driver) {
    a.push("--log-driver", r.logging.driver === "json-file" ? "k8s-file" : r.logging.driver);
    if (r.logging.options?.["max-size"]) a.push("--log-opt", `max-size=${r.logging.options["max-size"]}`);
  }
  const lim = r.deploy?.resources?.limits;
  if (lim?.cpus) a.push("--cpus", String(lim.cpus));
  if (lim?.memory) a.push("--memory", String(lim.memory).replace(/B$/i, "").toLowerCase());
  const h = s.healthcheck;
  if (h && !(h as Any).disable) {
    const test = Array.isArray(h.test) ? h.test : ["CMD-SHELL", h.test];
    a.push("--health-cmd", test[0] === "CMD-SHELL" ? test[1]! : JSON.stringify(test.slice(1)));
    a.push(
      "--health-interval",
      dur(h.interval, "30s"),
      "--health-timeout",
      dur(h.timeout, "30s"),
      "--health-retries",
      String(h.retries ?? 3),
      "--health-start-period",
      dur(h.start_period, "0s"),
    );
  }
  a.push(s.image, ...(s.command ?? []));
  return a;
}

export interface UpOptions {
  services?: string[];
  ports?: Record<string, string[]>;
  log?: (s: string) => void;
  /** how long to wait for one dependency's condition */
  waitMs?: number;
}

/** `docker compose build`: one `podman build` per image that has a `build` section. */
export async function buildImages(p: Project, services: string[], log: (s: string) => void): Promise<void> {
  const done = new Set<string>();
  for (const svc of services) {
    const s = p.services[svc]!;
    if (!s.build || done.has(s.image)) continue;
    done.add(s.image);
    // --format docker: the image keeps its HEALTHCHECK as Docker's does (OCI has no such field)
    const args = [
      "--pull=never",
      "--format",
      "docker",
      "-f",
      resolve(s.build.context, s.build.dockerfile ?? "Dockerfile"),
      ...(s.build.target ? ["--target", s.build.target] : []),
      "-t",
      s.image,
      s.build.context,
    ];
    log(`podman build ${args.join(" ")}`);
    const t = Date.now();
    await podmanBuild(args, s.build.context, (l) => log(`  ${l}`));
    log(`built ${s.image} in ${((Date.now() - t) / 1000).toFixed(0)} s`);
  }
}

/** Runs the container's own healthcheck once: true when it passed. */
export async function health(container: string): Promise<boolean> {
  return (await podman(["healthcheck", "run", container], { allowFail: true, timeoutMs: 30_000 })).code === 0;
}

export async function state(container: string): Promise<{ status: string; exitCode: number; health: string }> {
  const r = await podman(
    ["inspect", "--format", "{{.State.Status}} {{.State.ExitCode}} {{.State.Health.Status}}", container],
    { allowFail: true },
  );
  const [status = "missing", exitCode = "-1", h = ""] = r.stdout.trim().split(" ");
  return { status, exitCode: Number(exitCode), health: h };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits for `condition` of the service's first container. */
export async function waitFor(p: Project, svc: string, condition: string, timeoutMs = 120_000): Promise<void> {
  const c = containerName(p, svc);
  const until = Date.now() + timeoutMs;
  for (;;) {
    const st = await state(c);
    if (condition === "service_completed_successfully") {
      if (st.status === "exited") {
        if (st.exitCode === 0) return;
        throw new Error(`${svc} exited ${st.exitCode}:\n${await logs(c)}`);
      }
    } else if (condition === "service_healthy") {
      if (st.status === "running" && (await health(c))) return;
      if (st.status === "exited")
        throw new Error(`${svc} exited ${st.exitCode} instead of turning healthy:\n${await logs(c)}`);
    } else if (st.status === "running") return;
    if (Date.now() > until)
      throw new Error(`${svc} not ${condition} after ${timeoutMs} ms (${JSON.stringify(st)}):\n${await logs(c)}`);
    await sleep(1000);
  }
}

export async function logs(container: string): Promise<string> {
  const r = await podman(["logs", "--tail", "80", container], { allowFail: true });
  return (r.stdout + r.stderr).trim();
}

/** Dependencies first (the order `docker compose up` starts them in). */
export function startOrder(p: Project, services: string[]): string[] {
  const out: string[] = [];
  const visit = (s: string, path: string[]) => {
    if (out.includes(s)) return;
    if (path.includes(s)) throw new Error(`depends_on cycle: ${[...path, s].join(" -> ")}`);
    for (const d of Object.keys(p.services[s]!.depends_on)) visit(d, [...path, s]);
    out.push(s);
  };
  for (const s of services) visit(s, []);
  return out;
}

/** `docker compose up -d` for `services` (and what they depend on). */
export async function up(p: Project, opts: UpOptions = {}): Promise<string[]> {
  const log = opts.log ?? (() => {});
  const order = startOrder(p, opts.services ?? Object.keys(p.services));
  const nets = new Set(order.flatMap((s) => Object.keys(p.services[s]!.networks)));
  for (const n of nets) {
    const def = p.networks[n] ?? {};
    const args = ["network", "create", "--label", `com.docker.compose.project=${p.name}`];
    if (def.internal) args.push("--internal");
    for (const c of def.ipam?.config ?? []) {
      if (c.subnet) args.push("--subnet", c.subnet);
      if (c.ip_range) args.push("--ip-range", c.ip_range);
    }
    await podman([...args, netName(p, n)]);
  }
  for (const v of Object.keys(p.volumes))
    await podman(["volume", "create", "--label", `com.docker.compose.project=${p.name}`, `${p.name}_${v}`]);
  for (const svc of order) {
    for (const [dep, { condition }] of Object.entries(p.services[svc]!.depends_on)) {
      log(`${svc}: waiting for ${dep} (${condition})`);
      await waitFor(p, dep, condition, opts.waitMs);
    }
    await podman(runArgs(p, svc, 1, opts.ports?.[svc]));
    log(`${svc}: started ${containerName(p, svc)}`);
  }
  return order;
}

/** Another replica of `svc` (as `--scale svc=n` adds), started once its dependencies hold. */
export async function scaleUp(p: Project, svc: string, n: number): Promise<string> {
  await podman(runArgs(p, svc, n));
  return containerName(p, svc, n);
}

/** `docker compose down -v`: every container, network and volume of the project. */
export async function down(p: Pick<Project, "name">): Promise<void> {
  const label = `label=com.docker.compose.project=${p.name}`;
  const ids = (await podman(["ps", "-aq", "--filter", label], { allowFail: true })).stdout.split("\n").filter(Boolean);
  if (ids.length) await podman(["rm", "-f", "-t", "2", ...ids], { allowFail: true });
  const nets = (await podman(["network", "ls", "-q", "--filter", label], { allowFail: true })).stdout
    .split("\n")
    .filter(Boolean);
  if (nets.length) await podman(["network", "rm", "-f", ...nets], { allowFail: true });
  const vols = (await podman(["volume", "ls", "-q", "--filter", label], { allowFail: true })).stdout
    .split("\n")
    .filter(Boolean);
  if (vols.length) await podman(["volume", "rm", "-f", ...vols], { allowFail: true });
}
