/**
 * Podman, run with this directory's containers.conf (no systemd, cgroupfs, runc, no ulimits to
 * copy): the only container engine this kind of machine can run (there is no Docker engine).
 */
import { spawn, spawnSync } from "node:child_process";
import { resolve } from "node:path";

export const CONTAINERS_CONF = resolve(import.meta.dirname, "containers.conf");
const env = { ...process.env, CONTAINERS_CONF };

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `podman ...args` to its end; throws with its stderr unless `allowFail`. */
export function podman(
  args: string[],
  opts: { allowFail?: boolean; input?: string; timeoutMs?: number; cwd?: string } = {},
): Promise<Result> {
  return new Promise((ok, fail) => {
    const child = spawn("podman", args, { env, cwd: opts.cwd, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs) : undefined;
    child.on("error", fail);
    child.on("close", (code) => {
      if (timer) clearTimeout(timer);
      const r = { code: code ?? -1, stdout, stderr };
      if (r.code !== 0 && !opts.allowFail)
        fail(new Error(`podman ${args.slice(0, 6).join(" ")} ... exited ${r.code}: ${stderr.trim().slice(-2000)}`));
      else ok(r);
    });
    child.stdin.end(opts.input ?? "");
  });
}

/** `podman build`, its output streamed to `log` (a build is long; its progress matters). */
export function podmanBuild(args: string[], cwd: string, log: (line: string) => void): Promise<void> {
  return new Promise((ok, fail) => {
    const child = spawn("podman", ["build", ...args], { env, cwd, stdio: ["ignore", "pipe", "pipe"] });
    const tail: string[] = [];
    const onData = (d: Buffer) => {
      for (const line of d.toString().split("\n")) {
        if (!line.trim()) continue;
        tail.push(line);
        if (tail.length > 60) tail.shift();
        if (/^(STEP|COMMIT|-->|Successfully)/.test(line)) log(line);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("error", fail);
    child.on("close", (code) =>
      code === 0 ? ok() : fail(new Error(`podman build ${args.join(" ")} exited ${code}:\n${tail.join("\n")}`)),
    );
  });
}

/** Why Podman cannot run containers here, or null when it can. */
export function podmanProblem(): string | null {
  const v = spawnSync("podman", ["--version"], { env, encoding: "utf8" });
  if (v.error || v.status !== 0) return "podman is not installed (apt-get install -y podman runc debootstrap)";
  const info = spawnSync("podman", ["info", "--format", "{{.Host.OCIRuntime.Name}}"], { env, encoding: "utf8" });
  if (info.status !== 0) return `podman info fails: ${(info.stderr || "").trim().slice(0, 500)}`;
  return null;
}
