/**
 * A real Prometheus server for the observability test (test/observability/): Debian's
 * `prometheus` package (`apt-get install -y prometheus`; test/observability/run.ts installs it
 * when missing), started on a free loopback port with a config and a data folder of its own,
 * asked through its HTTP API.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { baseEnv } from "../../scripts/lib/child-env";
import { freePort } from "../../scripts/lib/ports";
import { startProcess } from "../../scripts/lib/processes";

/** Path of the `prometheus` binary (PROMETHEUS_BIN, else the PATH's), or null when there is none. */
export function prometheusBinary(): string | null {
  const bin = process.env.PROMETHEUS_BIN || "prometheus";
  const r = spawnSync(bin, ["--version"], { encoding: "utf8" });
  return r.status === 0 ? bin : null;
}

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PromTarget {
  scrapeUrl: string;
  health: "up" | "down" | "unknown";
  lastError: string;
  labels: Record<string, string>;
}

export interface Prometheus {
  url: string;
  /** The folder holding the config, its files and the TSDB (removed by stop). */
  dir: string;
  /** An instant query (`/api/v1/query`); throws on a query Prometheus refuses. */
  query(expr: string): Promise<{ resultType: string; result: PromSample[] }>;
  /** The active scrape targets (`/api/v1/targets`). */
  targets(): Promise<PromTarget[]>;
  /** What Prometheus printed (its log), for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts Prometheus with `config` (YAML text) written to a temporary folder; `files` are written
 * beside it first (a credentials file, say): `config` may name them as `${dir}/<name>`.
 */
export async function startPrometheus(
  config: (dir: string) => string,
  files: Record<string, string> = {},
): Promise<Prometheus> {
  const bin = prometheusBinary();
  if (!bin) throw new Error("prometheus is not installed (apt-get install -y prometheus)");
  const dir = mkdtempSync(join(tmpdir(), "mcpgw-prometheus-"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text, { mode: 0o600 });
  writeFileSync(join(dir, "prometheus.yml"), config(dir));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // the project's child processes: a plain environment, killed when the test process exits
  const proc = startProcess(
    "prometheus",
    bin,
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { env: baseEnv() },
  );
  const log = () => proc.output().slice(-20_000);
  const stop = async () => {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  const api = async (path: string) => {
    const res = await fetch(url + path);
    const body = (await res.json()) as { status: string; data: any; error?: string };
    if (body.status !== "success") throw new Error(`prometheus ${path}: ${res.status} ${body.error ?? ""}`);
    return body.data;
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.child.exitCode !== null) {
      await stop();
      throw new Error(`prometheus exited (${proc.child.exitCode}):\n${log()}`);
    }
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus not ready in 30 s:\n${log()}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    dir,
    query: (expr) => api(`/api/v1/query?query=${encodeURIComponent(expr)}`),
    targets: async () => ((await api("/api/v1/targets?state=active")) as { activeTargets: PromTarget[] }).activeTargets,
    output: log,
    stop,
  };
}
