/**
 * `npm start` as a user runs it: the real script (scripts/start.ts) as a child process with the
 * environment given, its output read line by line, and what it started found under /proc.
 *
 *   const s = startCli({ PORT: "8123", DEMO: "0" });
 *   await s.waitFor(/ready in/);
 *   s.child.kill("SIGINT");
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "../..");

export interface Cli {
  child: ChildProcess;
  exited: Promise<number>;
  /** Resolves with the first match of `re` in the output; rejects when the process exits or after `ms`. */
  waitFor(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
  output(): string;
}

const started: Cli[] = [];
// `npm start` bundles the workers; it must not rebuild the bundles the other test files run from.
let ownDist: string | undefined;

/**
 * Starts scripts/start.ts with `process.env`, then `env` (DATABASE_URL cleared unless given;
 * IDP_PORT 0, a free port, unless given: its default PORT + 1 may be another test's).
 */
export function startCli(env: Record<string, string>, opts: { inherit?: boolean; args?: string[] } = {}): Cli {
  ownDist ??= mkdtempSync(join(tmpdir(), "mcpgw-start-dist-"));
  const base =
    opts.inherit === false
      ? { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root" }
      : process.env;
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/start.ts", ...(opts.args ?? [])], {
    cwd: ROOT,
    env: { ...base, DATABASE_URL: "", IDP_PORT: "0", MCPGW_DIST: ownDist, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number>((r) => child.on("exit", (code) => r(code ?? -1)));
  const waitFor = (re: RegExp, ms = 90_000) =>
    new Promise<RegExpMatchArray>((res, rej) => {
      const t0 = Date.now();
      const tick = () => {
        const m = out.match(re);
        if (m) return res(m);
        if (child.exitCode !== null) return rej(new Error(`exited ${child.exitCode}:\n${out}`));
        if (Date.now() - t0 > ms) return rej(new Error(`timeout waiting for ${re}:\n${out}`));
        setTimeout(tick, 100);
      };
      tick();
    });
  const cli = { child, exited, waitFor, output: () => out };
  started.push(cli);
  return cli;
}

/**
 * Stops every CLI started here and removes the bundles; for afterAll. Ctrl-C first (SIGINT: the
 * script stops what it started), SIGKILL after 20 s: a SIGKILL alone would leave workerd and the
 * upstreams running.
 */
export async function stopAllClis(): Promise<void> {
  await Promise.all(
    started.map(async ({ child, exited }) => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      await exited;
      clearTimeout(timer);
    }),
  );
  started.length = 0;
  if (ownDist) rmSync(ownDist, { recursive: true, force: true });
  ownDist = undefined;
}

/** The pids of `pid`'s descendants (children, their children, ...), from /proc. */
export function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      // pid (comm) state ppid ...: comm may contain spaces and parentheses
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parent.set(Number(name), ppid);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [c, pp] of parent) if (pp === p) (out.push(c), walk(c));
  };
  walk(pid);
  return out;
}

/** A process's command line and environment (NUL-separated in /proc), or null when it is gone. */
export function processInfo(pid: number): { args: string[]; env: Record<string, string> } | null {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
    const env: Record<string, string> = {};
    for (const kv of readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")) {
      const i = kv.indexOf("=");
      if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
    }
    return { args, env };
  } catch {
    return null;
  }
}

export interface Listener {
  proto: "tcp" | "tcp6" | "udp" | "udp6";
  /** Local address as printed: `127.0.0.1`, `::1`, `0.0.0.0`, `::`. */
  address: string;
  port: number;
  pid: number;
}

function hexAddress(hex: string): string {
  const words = hex.match(/.{8}/g)!.map((w) => w.match(/../g)!.reverse().join("")); // each 32-bit word is little-endian
  if (words.length === 1)
    return words[0]!
      .match(/../g)!
      .map((b) => parseInt(b, 16))
      .join(".");
  const full = words.join("").match(/.{4}/g)!.join(":");
  return new URL(`http://[${full}]/`).hostname.slice(1, -1); // the URL parser writes the short form
}

/**
 * Every listening TCP socket and bound UDP socket held by one of `pids`, read from /proc/net (what
 * `ss -ltunp` reads) and the processes' file descriptors.
 */
export function listeners(pids: number[]): Listener[] {
  const byInode = new Map<string, Omit<Listener, "pid">>();
  for (const proto of ["tcp", "tcp6", "udp", "udp6"] as const) {
    let text = "";
    try {
      text = readFileSync(`/proc/net/${proto}`, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const [addr, port] = f[1]!.split(":");
      const state = f[3];
      if (proto.startsWith("tcp") ? state !== "0A" : state !== "07") continue; // LISTEN / unconnected
      byInode.set(f[9]!, { proto, address: hexAddress(addr!), port: parseInt(port!, 16) });
    }
  }
  const out: Listener[] = [];
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target = "";
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      const l = inode ? byInode.get(inode) : undefined;
      if (l) out.push({ ...l, pid });
    }
  }
  return out;
}
