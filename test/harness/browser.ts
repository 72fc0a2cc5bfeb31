/**
 * The browser of the browser tests, driven by playwright-core: the machine's Chromium when it
 * has one (`CHROMIUM_PATH`, else Debian's /usr/bin/chromium), else the headless Chromium that the
 * `@sparticuz/chromium` npm package ships (a devDependency, so `npm ci` installs it: nothing to
 * install by hand). That package holds the binary brotli-compressed with the few libraries it
 * needs (NSS, NSPR, expat), SwiftShader and a font; they are unpacked once into
 * node_modules/.cache/mcpgw-chromium-<version>/ (atomically: parallel test runs share it) and the
 * binary is started with that folder on LD_LIBRARY_PATH, so it runs on a machine without
 * Chromium's libraries too. The package's own loader is not used: it writes to /tmp/chromium,
 * shared by every run on the machine, and sets up libraries only on AWS Lambda.
 */
import { execFileSync } from "node:child_process";
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { brotliDecompressSync } from "node:zlib";
import { chromium, type Browser, type LaunchOptions } from "playwright-core";

const ROOT = resolve(import.meta.dirname, "../..");
const SYSTEM_CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];

function executable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface BrowserBinary {
  executablePath: string;
  /** Variables the binary needs besides the test's environment. */
  env: Record<string, string>;
  /** "system" (the machine's Chromium) or "npm" (unpacked from @sparticuz/chromium). */
  source: "system" | "npm";
}

/** Unpacks @sparticuz/chromium's binary, libraries and font into the cache folder (once). */
export function shippedChromium(): BrowserBinary {
  const pkgDir = resolve(ROOT, "node_modules/@sparticuz/chromium");
  if (!existsSync(join(pkgDir, "bin", "chromium.br"))) {
    throw new Error(
      "no Chromium found: run `npm ci` (it installs @sparticuz/chromium), or `apt-get install chromium`, or set CHROMIUM_PATH",
    );
  }
  const version = (JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")) as { version: string }).version;
  const dir = resolve(ROOT, "node_modules/.cache", `mcpgw-chromium-${version}`);
  const binary = join(dir, "chromium");
  if (!existsSync(binary)) {
    const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
    mkdirSync(join(tmp, "lib"), { recursive: true });
    const bin = (name: string) => brotliDecompressSync(readFileSync(join(pkgDir, "bin", name)));
    const untar = (name: string, into: string) =>
      execFileSync("tar", ["-x", "-C", into, "-f", "-"], { input: bin(name), maxBuffer: 1 << 30 });
    writeFileSync(join(tmp, "chromium"), bin("chromium.br"), { mode: 0o755 });
    untar("swiftshader.tar.br", tmp); // libGLESv2 and friends, loaded from the binary's folder
    untar("al2023.tar.br", tmp); // lib/: NSS, NSPR, expat
    untar("fonts.tar.br", tmp); // fonts/Open_Sans
    writeFileSync(
      join(tmp, "fonts.conf"),
      `<?xml version="1.0"?>\n<fontconfig>\n  <dir>${join(dir, "fonts")}</dir>\n  <dir>/usr/share/fonts</dir>\n  <cachedir>${join(dir, "font-cache")}</cachedir>\n</fontconfig>\n`,
    );
    try {
      renameSync(tmp, dir);
    } catch {
      rmSync(tmp, { recursive: true, force: true }); // another run unpacked it first
    }
  }
  return {
    executablePath: binary,
    env: { LD_LIBRARY_PATH: join(dir, "lib"), FONTCONFIG_FILE: join(dir, "fonts.conf") },
    source: "npm",
  };
}

/** The Chromium binary to drive: `CHROMIUM_PATH`, the system's, else the one shipped by npm. */
export function findChromium(): BrowserBinary {
  const given = process.env.CHROMIUM_PATH;
  if (given) {
    if (!executable(given)) throw new Error(`CHROMIUM_PATH=${given} is not an executable file`);
    return { executablePath: given, env: {}, source: "system" };
  }
  const system = SYSTEM_CHROMIUM.find(executable);
  return system ? { executablePath: system, env: {}, source: "system" } : shippedChromium();
}

/** Launches headless Chromium (default: {@link findChromium}) with `args`. */
export async function launchChromium(
  args: string[],
  options: LaunchOptions = {},
  found: BrowserBinary = findChromium(),
): Promise<Browser> {
  return chromium.launch({
    ...options,
    executablePath: found.executablePath,
    headless: true,
    args,
    env: { ...(process.env as Record<string, string>), ...found.env, ...options.env },
  });
}
