/**
 * The soak in short form (scripts/soak.ts; the long run is `npm run soak -- --minutes 5
 * --clients 50`), 10 clients by default (SOAK_CLIENTS): concurrent MCP clients across 10 tenants for SOAK_SECONDS (default 25),
 * each answer checked for isolation, no errors, workerd's file descriptors flat and memory bounded.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { startEverything, type Upstream } from "../../scripts/lib/upstreams";
import { formatReport, runSoak, seedSoak, warmUp, type SoakTenant } from "../../scripts/soak";
import { startTestStack, type TestStack } from "../harness/stack";

const SECONDS = Number(process.env.SOAK_SECONDS ?? 25);
const CLIENTS = Number(process.env.SOAK_CLIENTS ?? 10);

let t: TestStack;
let upstreams: Upstream[];
let tenants: SoakTenant[];
beforeAll(async () => {
  upstreams = await Promise.all([startEverything("soak-a"), startEverything("soak-b")]);
  t = await startTestStack({ env: { RATE_LIMIT_PER_MINUTE: "1000000" } });
  tenants = await seedSoak(t.db.sql, upstreams.map((u) => u.url), 10, Math.ceil(CLIENTS / 10));
  await warmUp(t.url, tenants, 80_000);
}, 180_000);
afterAll(async () => {
  await t?.stop();
  await Promise.all((upstreams ?? []).map((u) => u.proc.stop()));
});

it(`serves ${CLIENTS} concurrent clients across 10 tenants for ${SECONDS} s: no errors, isolation on every answer, fds and memory flat`, { timeout: (SECONDS + 150) * 1000 }, async () => {
  const report = await runSoak({ url: t.url, tenants, clients: CLIENTS, durationMs: SECONDS * 1000, pid: t.workerd.child.pid, sampleMs: 1000 });
  console.log(formatReport(report));
  if (report.unavailable.length || report.errors.length) {
    console.log(t.workerd.output().split("\n").filter((l) => /"level":"(warn|error)"/.test(l)).slice(-15).join("\n"));
  }
  expect(report.isolationViolations).toEqual([]);
  // No wrong answer, timeout or crash. A turn refused with a clean JSON-RPC "unavailable, try
  // again shortly" (the catalog or Postgres overloaded on a busy CI machine) is reported above
  // but tolerated here; `npm run soak` counts it as a failure.
  expect(report.errors).toEqual([]);
  expect(report.unavailable.length).toBeLessThan(report.turns / 4);
  expect(report.turns).toBeGreaterThan(CLIENTS);
  expect(report.samples.length).toBeGreaterThan(3);
  // descriptors follow the connections in flight, which swing with the machine's load while
  // other test files run beside this one (seen: +12 alone, +61 beside the benchmark); a leak of
  // one per turn would add hundreds here, and the long run judges "flat" strictly
  expect(report.fdGrowth).toBeLessThanOrEqual(Math.max(80, report.warm!.fds * 0.5));
  // a short run on a shared CI machine is too short to judge memory finely (the heap still
  // grows into its working size); the bound catches a gross leak, the long run judges "flat"
  expect(report.rssGrowthPct).toBeLessThanOrEqual(100);
  expect(t.workerd.child.exitCode).toBeNull();
});
