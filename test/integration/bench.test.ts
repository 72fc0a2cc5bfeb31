/**
 * Keeps `npm run bench` working: runs bench/run.ts at a tiny BENCH_SCALE against the test Postgres
 * and checks that it prints every figure issue 7 names (Open WebUI turn, tools/call in an open
 * session, tools/list of 1,000 tools, c=1 and c=50, p50/p99/rps, peak memory of workerd, the cost
 * by users and tenants, the targets) and issue 12's (the turn without the session pool, a modern
 * client's call to a modern upstream, an auto-mode client's failed probes), and writes the same
 * into a JSON file in bench/results/.
 * BENCH_CONCURRENCY=4 stands in for 50 here, to keep the run short.
 * The figures themselves are not judged here (no timing assertions); docs/performance.md does.
 */
import { spawn } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { ROOT } from "../../scripts/lib/workers";

function runBench(): Promise<{ code: number; out: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, ["--import", "tsx", "bench/run.ts"], {
      cwd: ROOT,
      // the workers the global setup bundled (MCPGW_DIST) are reused; BENCH_NO_BUILD skips bundling
      env: {
        ...process.env,
        BENCH_SCALE: "0.02",
        BENCH_CONCURRENCY: "4",
        DATABASE_URL: inject("databaseUrl"),
        BENCH_NO_BUILD: "1",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("close", (code) => res({ code: code ?? 1, out }));
  });
}

describe("npm run bench", () => {
  it("prints every figure of issue 7 and writes them as JSON", async () => {
    const { code, out } = await runBench();
    expect(out).not.toContain("stopped early");
    expect(code, out).toBe(0);
    for (const workload of [
      "owui_turn_c1",
      "owui_turn_nopool_c1",
      "owui_turn_c50",
      "floor_owui_turn_c1",
      "floor1_owui_turn_c1",
      "call_c1",
      "call_held_c1",
      "floor_call_c1",
      "call_c50",
      "modern_call_c1",
      "floor_modern_call_c1",
      "auto_turn_c1",
      "list_1000_c1",
      "list_1000_c50",
      "hop_edge_auth_c1",
      "hop_catalog_c1",
    ]) {
      expect(out, workload).toMatch(new RegExp(`^${workload}\\s+[\\d.-]+`, "m"));
    }
    for (const column of ["direct p50", "direct p99", "direct rps", "gw p50", "gw p99", "gw rps", "p50 ratio"])
      expect(out).toContain(column);
    for (const scale of [
      "10 users 1 tenants",
      "1000 users 1 tenants",
      "10000 users 1 tenants",
      "10000 users 100 tenants",
    ])
      expect(out).toContain(scale);
    expect(out).toMatch(/peak resident memory of the workerd process: \d+(\.\d+)? MB/);
    expect(out).toContain("targets (issue 7):");
    // issue 12: the turn with and without the session pool, the modern call, the auto-mode client's failed probes
    expect(out).toContain("targets (issue 12):");
    expect(out).toMatch(/tools\/call added p50 through the floor \(floor_call_c1\): -?[\d.]+ms/);
    expect(out).toMatch(/the gateway's own work over it, tools\/call \(call_c1\): -?[\d.]+ms/);
    expect(out).toMatch(/2026-07-28 tools\/call added p50 through the floor \(floor_modern_call_c1\): -?[\d.]+ms/);
    expect(out).toMatch(/the gateway's own work over it, 2026-07-28 tools\/call \(modern_call_c1\): -?[\d.]+ms/);
    expect(out).toMatch(/failed server\/discover probes per turn: direct [\d.]+, gateway [\d.]+/);
    // a server under review: one upstream tools/list per call (the pin check), its cost printed
    expect(out).toMatch(/under review vs auto \(call_c1\): p50 \+-?[\d.]+ ms; upstream tools\/list per call 1\b/);
    const file = out.match(/wrote (\S+\.json)/)?.[1];
    expect(file).toBeTruthy();
    try {
      const json = JSON.parse(readFileSync(resolve(file!), "utf8"));
      expect(json.meta).toMatchObject({ cpus: expect.any(Number), scale: 0.02 });
      expect(json.results.call_c1.gateway).toMatchObject({
        p50: expect.any(Number),
        p99: expect.any(Number),
        rps: expect.any(Number),
      });
      expect(json.results.call_c50.direct.rps).toBeGreaterThan(0);
      // no workload's gateway side failed (a per-user cap the bench does not lift showed as errors here)
      for (const [name, r] of Object.entries(
        json.results as Record<string, { gateway?: { errors: number; error?: string } }>,
      ))
        if (r?.gateway) expect(r.gateway.errors, `${name}: ${r.gateway.error}`).toBe(0);
      expect(json.results.list_1000_c1.gateway.count).toBeGreaterThan(0);
      expect(Object.keys(json.results.scale)).toEqual([
        "10_users_1_tenants",
        "1000_users_1_tenants",
        "10000_users_1_tenants",
        "10000_users_100_tenants",
      ]);
      expect(json.results.workerd.peak_rss_mb).toBeGreaterThan(0);
      expect(json.results.targets).toHaveLength(5);
      expect(json.results.targets_issue12).toHaveLength(7);
      expect(json.results.owui_turn_nopool_c1.gateway.count).toBeGreaterThan(0);
      expect(json.results.floor_owui_turn_c1.gateway.count).toBeGreaterThan(0);
      expect(json.results.modern_call_c1.gateway.count).toBeGreaterThan(0);
      // c=1 workloads ran side by side (one operation of each in turn), c=50 ones one after the other
      expect(json.results.call_c1.side_by_side).toBe(true);
      expect(json.results.call_c50.side_by_side).toBe(false);
      expect(json.results.call_c1.direct.count).toBe(json.results.call_c1.gateway.count);
      expect(json.results.floor_call_c1.gateway.count).toBeGreaterThan(0);
      expect(json.results.floor.call_c1_added_over_floor_p50_ms).toBeCloseTo(
        json.results.call_c1.added_p50_ms - json.results.floor_call_c1.added_p50_ms,
        1,
      );
      // the modern call is read against the floor in front of its own upstream
      expect(json.results.floor_modern_call_c1.side_by_side).toBe(true);
      expect(json.results.floor.modern_call_c1_added_over_floor_p50_ms).toBeCloseTo(
        json.results.modern_call_c1.added_p50_ms - json.results.floor_modern_call_c1.added_p50_ms,
        1,
      );
      expect(json.results.auto_turn_c1.failed_probes_per_turn).toMatchObject({
        direct: expect.any(Number),
        gateway: expect.any(Number),
      });
    } finally {
      rmSync(resolve(file!), { force: true });
    }
  }, 180_000);
});
