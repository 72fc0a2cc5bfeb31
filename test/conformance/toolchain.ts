/**
 * What the conformance run needs besides the project's own install, fetched once into
 * node_modules/.cache/mcp-conformance and reused:
 * - Node 22 (the suites use `fs.globSync`, which Node 20 lacks): the `node-<platform>-<arch>`
 *   package from npm, `npm pack`ed and unpacked;
 * - the two suites, installed with `npm ci` from test/conformance/package.json and its lockfile
 *   (so they never enter the project's package.json and every run gets the same versions).
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { ROOT } from "../../scripts/lib/workers";

/** The Node 22 release the suites run on (exact, like every other pin). */
export const NODE22_VERSION = "22.23.5";
export const CACHE_DIR = resolve(ROOT, "node_modules/.cache/mcp-conformance");
const SUITES_SRC = resolve(ROOT, "test/conformance");

/** The suites, by the spec revision each is run for. */
export const SUITES = {
  "2025-11-25": {
    pkg: "conformance-2025-11-25",
    version: "0.1.16",
    args: ["--suite", "all", "--spec-version", "2025-11-25"],
  },
  "2026-07-28": { pkg: "conformance-2026-07-28", version: "0.2.0-alpha.12", args: ["--requirements", "2026-07-28"] },
} as const;
export type SuiteId = keyof typeof SUITES;

const npm = process.platform === "win32" ? "npm.cmd" : "npm";

/** Path of a Node 22 binary: fetched from npm on first use. */
export function node22(log: (s: string) => void): string {
  const pkg = `node-${process.platform === "win32" ? "win" : process.platform}-${process.arch}`;
  const dir = resolve(CACHE_DIR, `${pkg}-${NODE22_VERSION}`);
  const bin = resolve(dir, "package/bin", process.platform === "win32" ? "node.exe" : "node");
  if (existsSync(bin)) return bin;
  log(`fetching Node ${NODE22_VERSION} (${pkg} from npm) into ${dir}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync(npm, ["pack", `${pkg}@${NODE22_VERSION}`, "--pack-destination", dir, "--silent"], {
      stdio: ["ignore", "ignore", "inherit"],
    });
    const tgz = readdirSync(dir).find((f) => f.endsWith(".tgz"));
    if (!tgz) throw new Error("npm pack produced no tarball");
    execFileSync("tar", ["-xzf", resolve(dir, tgz), "-C", dir]);
    rmSync(resolve(dir, tgz));
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`could not fetch ${pkg}@${NODE22_VERSION} from npm: ${(err as Error).message}`);
  }
  if (!existsSync(bin)) throw new Error(`${pkg}@${NODE22_VERSION} has no ${bin}`);
  return bin;
}

/** The suites installed (npm ci from the committed lockfile, again only when it changed); returns each entry script. */
export function installSuites(log: (s: string) => void): Record<SuiteId, string> {
  const dir = resolve(CACHE_DIR, "suites");
  const lock = readFileSync(resolve(SUITES_SRC, "package-lock.json"));
  const stamp = createHash("sha256")
    .update(readFileSync(resolve(SUITES_SRC, "package.json")))
    .update(lock)
    .digest("hex");
  const stampFile = resolve(dir, ".installed");
  if (!existsSync(stampFile) || readFileSync(stampFile, "utf8") !== stamp) {
    log(
      `installing the conformance suites (${Object.values(SUITES)
        .map((s) => `@modelcontextprotocol/conformance@${s.version}`)
        .join(", ")}) into ${dir}`,
    );
    mkdirSync(dir, { recursive: true });
    copyFileSync(resolve(SUITES_SRC, "package.json"), resolve(dir, "package.json"));
    copyFileSync(resolve(SUITES_SRC, "package-lock.json"), resolve(dir, "package-lock.json"));
    execFileSync(npm, ["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--silent"], {
      cwd: dir,
      stdio: ["ignore", "ignore", "inherit"],
    });
    writeFileSync(stampFile, stamp);
  }
  const entry = (id: SuiteId) => {
    const p = resolve(dir, "node_modules", SUITES[id].pkg, "dist/index.js");
    const version = JSON.parse(
      readFileSync(resolve(dir, "node_modules", SUITES[id].pkg, "package.json"), "utf8"),
    ).version;
    if (version !== SUITES[id].version)
      throw new Error(
        `${SUITES[id].pkg} is ${version}, expected ${SUITES[id].version}: update test/conformance/package-lock.json`,
      );
    return p;
  };
  return { "2025-11-25": entry("2025-11-25"), "2026-07-28": entry("2026-07-28") };
}
