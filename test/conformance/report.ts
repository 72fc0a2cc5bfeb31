/**
 * Reads what a suite run wrote (`-o <dir>`: one `server-<scenario>-<time>/checks.json` per
 * scenario) and prints the side-by-side table: per suite, passed/failed checks directly against
 * the upstream and through the gateway, with the names of the failing checks.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { resolve } from "node:path";

export interface Check {
  scenario: string;
  id: string;
  status: string;
  errorMessage?: string;
}

export interface RunResult {
  /** Checks that count: SUCCESS, FAILURE, and WARNING (a SHOULD not met: counted as not passed). INFO and SKIPPED are not counted. */
  passed: Check[];
  failed: Check[];
  warnings: Check[];
  /** Scenarios run but not scored (the 2026-07-28 set's extensions), kept apart. */
  notScored: { passed: Check[]; failed: Check[] };
  /** The suite's own exit code, and the tail of its output when it failed to run. */
  exitCode: number | null;
  error?: string;
}

/** Scenario name of a result folder: `server-<scenario>-<ISO time with dashes>`. */
function scenarioOf(dir: string): string {
  return dir.replace(/^server-/, "").replace(/-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/, "");
}

/**
 * Parses a run's output folder.
 * @param notScored scenarios to keep apart (run for visibility, not counted)
 */
export function readRun(outDir: string, exitCode: number | null, notScored: Set<string> = new Set()): RunResult {
  const r: RunResult = { passed: [], failed: [], warnings: [], notScored: { passed: [], failed: [] }, exitCode };
  if (!existsSync(outDir)) return { ...r, error: "no results written" };
  for (const dir of readdirSync(outDir).sort()) {
    const file = resolve(outDir, dir, "checks.json");
    if (!existsSync(file)) continue;
    const scenario = scenarioOf(dir);
    const checks = JSON.parse(readFileSync(file, "utf8")) as { id: string; status: string; errorMessage?: string }[];
    for (const c of checks) {
      const check = { scenario, id: c.id, status: c.status, errorMessage: c.errorMessage };
      const into = notScored.has(scenario) ? r.notScored : r;
      if (c.status === "SUCCESS") into.passed.push(check);
      else if (c.status === "FAILURE") into.failed.push(check);
      else if (c.status === "WARNING" && into === r) r.warnings.push(check);
    }
  }
  return r;
}

/** The not-scored scenarios a requirement set lists (`not_scored: - scenario: <name>`). */
export function notScoredOf(requirementsYaml: string): Set<string> {
  const names = new Set<string>();
  const section = requirementsYaml.split(/^not_scored:\s*$/m)[1] ?? "";
  for (const m of section.matchAll(/^\s*-\s*scenario:\s*(\S+)\s*$/gm)) names.add(m[1]!);
  return names;
}

const checkName = (c: Check) => `${c.scenario}:${c.id}`;

/** Check names the reference run passed that `r` did not report at all (its scenario stopped early). */
export function missingFrom(r: RunResult, reference: RunResult | undefined): string[] {
  if (!reference) return [];
  const seen = new Set([...r.passed, ...r.failed, ...r.warnings].map(checkName));
  return [...new Set(reference.passed.map(checkName))].filter((n) => !seen.has(n));
}

/**
 * The side-by-side table, as text lines. A gateway run is counted out of what the direct run
 * passed; checks it never reported (a scenario that stopped early) are listed as not passed.
 */
export function table(rows: { suite: string; upstream: string; direct?: RunResult; gateway?: RunResult }[]): string[] {
  const cell = (r?: RunResult, reference?: RunResult) => {
    if (!r) return "not run";
    if (r.error) return `error: ${r.error}`;
    const missing = missingFrom(r, reference).length;
    // against a reference: out of what the upstream passes directly (the lead's "41 of 47")
    const total =
      reference && !reference.error ? reference.passed.length : r.passed.length + r.failed.length + r.warnings.length;
    const parts = [
      r.failed.length && `${r.failed.length} failed`,
      r.warnings.length && `${r.warnings.length} warnings`,
      missing && `${missing} not reported`,
    ].filter(Boolean);
    return `${r.passed.length} of ${total} passed${parts.length ? ` (${parts.join(", ")})` : ""}`;
  };
  const out: string[] = [];
  const head = ["suite", "upstream", "direct", "through the gateway"];
  const body = rows.map((x) => [x.suite, x.upstream, cell(x.direct), cell(x.gateway, x.direct)]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cols: string[]) => "| " + cols.map((c, i) => c.padEnd(widths[i]!)).join(" | ") + " |";
  out.push(line(head), "|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|", ...body.map(line));
  for (const x of rows) {
    for (const [where, r] of [
      ["direct", x.direct],
      ["through the gateway", x.gateway],
    ] as const) {
      if (!r) continue;
      const missing = where === "direct" ? [] : missingFrom(r, x.direct);
      if (r.failed.length || r.warnings.length || missing.length) {
        out.push("", `${x.suite} ${where}: checks not passed`);
        for (const c of [...r.failed, ...r.warnings]) {
          out.push(
            `  - ${checkName(c)}${c.status === "WARNING" ? " (warning)" : ""}${c.errorMessage ? `: ${c.errorMessage.replace(/\s+/g, " ").slice(0, 160)}` : ""}`,
          );
        }
        for (const n of missing) out.push(`  - ${n} (not reported: its scenario stopped before it)`);
      }
      const ns = r.notScored.passed.length + r.notScored.failed.length;
      if (ns)
        out.push(
          "",
          `${x.suite} ${where}: not scored (extensions and checks added after the release): ${r.notScored.passed.length} passed, ${r.notScored.failed.length} failed`,
        );
    }
  }
  return out;
}
