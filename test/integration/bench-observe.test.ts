/**
 * Keeps the per-hop benches of metrics and tracing working (docs/performance.md, "Cost of metrics
 * and tracing"): bench/observe.ts and bench/message-trace.ts, run with a few tiny rounds, print
 * their figures as one JSON line. The figures themselves are not judged here (no timing
 * assertions); docs/performance.md does.
 */
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ROOT } from "../../scripts/lib/workers";

const run = (script: string, env: Record<string, string> = {}) => {
  const r = spawnSync(process.execPath, ["--import", "tsx", script], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, ROUNDS: "2", PER_ROUND: "50", ...env },
    timeout: 60_000,
  });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split("\n").pop()!);
};
const figure = { without: expect.any(Number), with: expect.any(Number), added: expect.any(Number) };

describe("the metrics and tracing benches", () => {
  it("bench/observe.ts prints the per-request cost of observe(), with and without export", () => {
    expect(run("bench/observe.ts")).toMatchObject({ perRequestUs: figure, rounds: 2, perRound: 50 });
    expect(run("bench/observe.ts", { NO_EXPORT: "1" })).toMatchObject({ perRequestUs: figure });
  });

  it("bench/message-trace.ts prints the cost of the edge reading `_meta` trace context, with and without a trace in the message", () => {
    const out = run("bench/message-trace.ts");
    expect(out).toMatchObject({ perRequestUs: { withTrace: figure, withoutTrace: figure }, rounds: 2, perRound: 50 });
    expect(out.readSearchParseUs).toBeGreaterThan(0);
    expect(out.bodyBytes).toBeGreaterThan(200);
  });
});
