// `npm run test:observability` on a machine without Prometheus: one line that says so, exit 0
// (not a failure of the code, but never a pass: no test ran), or 1 with
// MCPGW_OBSERVABILITY_REQUIRED=1. Run with a PATH that has only `sh` and `node`, so no prometheus.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT } from "../../scripts/lib/workers";

const bin = mkdtempSync(join(tmpdir(), "no-prometheus-"));
symlinkSync("/bin/sh", join(bin, "sh"));
symlinkSync(process.execPath, join(bin, "node"));
afterAll(() => rmSync(bin, { recursive: true, force: true }));

const run = (extra: Record<string, string> = {}) =>
  spawnSync(process.execPath, ["--import", "tsx", "test/observability/run.ts"], {
    cwd: ROOT,
    encoding: "utf8",
    env: { HOME: process.env.HOME ?? "/root", PATH: bin, MCPGW_OBSERVABILITY_INSTALL: "0", ...extra },
    timeout: 60_000,
  });

const LINE =
  "test:observability: NOT RUN - no prometheus binary on this machine (apt-get install -y prometheus, or PROMETHEUS_BIN=/path)";

describe("npm run test:observability without Prometheus", () => {
  it("says on one line that it did not run and why, and exits 0", () => {
    const r = run();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual([`${LINE} (set MCPGW_OBSERVABILITY_REQUIRED=1 to fail instead)`]);
  });

  it("fails with MCPGW_OBSERVABILITY_REQUIRED=1", () => {
    const r = run({ MCPGW_OBSERVABILITY_REQUIRED: "1" });
    expect(r.status).toBe(1);
    expect(r.stdout.trim()).toBe(LINE);
  });
});
