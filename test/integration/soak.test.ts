/**
 * The soak in short form (scripts/soak.ts; the long run is `npm run soak -- --minutes 5
 * --clients 50`), 10 clients by default (SOAK_CLIENTS): concurrent MCP clients across 10 tenants,
 * a warm-up (SOAK_WARM_UP_SECONDS, default 8) then SOAK_SECONDS (default 25) measured, each answer
 * checked for isolation. Resources are judged at rest, before and after the measured run (no load,
 * finished exchanges closed, a full GC in every isolate through workerd's inspector): descriptors
 * must come back (scripts/soak.ts REST_FD_SLACK) and the live heap may grow by at most
 * HEAP_FIXED_KB + HEAP_BYTES_PER_TURN per turn; figures under load are only reported, they swing
 * with the connections in flight.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { freePort } from "../../scripts/lib/ports";
import { startEverything, type Upstream } from "../../scripts/lib/upstreams";
import { formatReport, REST_FD_SLACK, runSoak, seedSoak, warmUp, type SoakTenant } from "../../scripts/soak";
import { startTestStack, type TestStack } from "../harness/stack";

const SECONDS = Number(process.env.SOAK_SECONDS ?? 25);
const WARM_UP_SECONDS = Number(process.env.SOAK_WARM_UP_SECONDS ?? 8);
const CLIENTS = Number(process.env.SOAK_CLIENTS ?? 10);

let t: TestStack;
let upstreams: Upstream[];
let tenants: SoakTenant[];
let inspector: string;
beforeAll(async () => {
  upstreams = await Promise.all([startEverything("soak-a"), startEverything("soak-b")]);
  inspector = `127.0.0.1:${await freePort()}`;
  process.env.MCPGW_INSPECTOR = inspector; // read when workerd starts (scripts/lib/workerd.ts)
  try {
    t = await startTestStack({ env: { RATE_LIMIT_PER_MINUTE: "1000000" } });
  } finally {
    delete process.env.MCPGW_INSPECTOR;
  }
  tenants = await seedSoak(
    t.db.sql,
    upstreams.map((u) => u.url),
    10,
    Math.ceil(CLIENTS / 10),
  );
  await warmUp(t.url, tenants, 80_000);
}, 180_000);
afterAll(async () => {
  await t?.stop();
  await Promise.all((upstreams ?? []).map((u) => u.proc.stop()));
});

it(
  `serves ${CLIENTS} concurrent clients across 10 tenants for ${SECONDS} s: no errors, isolation on every answer, descriptors and live heap back at rest`,
  { timeout: (WARM_UP_SECONDS + SECONDS + 150) * 1000 },
  async () => {
    const report = await runSoak({
      url: t.url,
      tenants,
      clients: CLIENTS,
      durationMs: SECONDS * 1000,
      warmUpMs: WARM_UP_SECONDS * 1000,
      pid: t.workerd.child.pid,
      inspector,
      sampleMs: 1000,
    });
    console.log(formatReport(report));
    if (report.unavailable.length || report.errors.length) {
      console.log(
        t.workerd
          .output()
          .split("\n")
          .filter((l) => /"level":"(warn|error)"/.test(l))
          .slice(-15)
          .join("\n"),
      );
    }
    expect(report.isolationViolations).toEqual([]);
    // no wrong answer, timeout, crash, or "unavailable, try again shortly" (as `npm run soak`)
    expect(report.errors).toEqual([]);
    expect(report.unavailable).toEqual([]);
    expect(report.turns).toBeGreaterThan(CLIENTS);
    expect(report.rest).toBeDefined();
    // at rest the connections of the run are closed: what is still held was leaked
    expect(report.restFdGrowth).toBeLessThanOrEqual(REST_FD_SLACK);
    // live heap after GC: a fixed part plus what the bounded session caches keep per new session
    // (scripts/soak.ts HEAP_FIXED_KB, HEAP_BYTES_PER_TURN); a turn that kept a request or a
    // response would add kilobytes
    expect(report.heapGrowthKb).not.toBeNull();
    expect(report.heapGrowthKb!).toBeLessThanOrEqual(report.heapAllowanceKb);
    expect(report.flat).toBe(true);
    expect(t.workerd.child.exitCode).toBeNull();
  },
);
