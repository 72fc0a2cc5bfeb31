/**
 * The mutation score per security-critical module, from Stryker's JSON report
 * (reports/mutation/mutation.json, written by `npm run test:mutation`). Score = killed (or timed
 * out) / (killed + timed out + survived + no coverage); mutants disabled in the source with a
 * `// Stryker disable` comment (equivalent ones, each explained there and in the README) are not
 * counted. Exits 1 when a module is under the target (90 %), naming it and its surviving mutants.
 */
import { readFileSync } from "node:fs";
import config from "../stryker.config.mjs";

const TARGET = 90;
const MODULES: Record<string, string[]> = {
  "identity assertion": ["shared/identity.ts"],
  credentials: ["workers/auth/src/credentials.ts", "shared/secrets.ts"],
  "session tokens": ["workers/mcp/src/tokens.ts"],
  "name resolution": ["workers/mcp/src/dispatch/names.ts", "shared/naming.ts"],
  CSRF: ["workers/admin/src/csrf.ts"],
  "tool rules": ["shared/policy.ts"],
  "request limits": [
    "shared/middleware/body-limit/index.ts",
    "shared/middleware/drain-body/index.ts",
    "shared/middleware/header-limit/index.ts",
    "shared/middleware/request-limits/index.ts",
    "shared/middleware/rate-limit/index.ts",
  ],
};

interface Mutant {
  status: string;
  mutatorName: string;
  replacement?: string;
  location: { start: { line: number; column: number } };
}
const report = JSON.parse(readFileSync(process.argv[2] ?? "reports/mutation/mutation.json", "utf8")) as {
  files: Record<string, { mutants: Mutant[] }>;
};

/** Line ranges of `file:from-to` entries in the mutate list (an incremental report may hold mutants outside them). */
const ranges = new Map<string, [number, number]>();
for (const entry of (config as { mutate: string[] }).mutate) {
  const m = /^(.*):(\d+)-(\d+)$/.exec(entry);
  if (m) ranges.set(m[1]!, [Number(m[2]), Number(m[3])]);
}
const inScope = (file: string, line: number) => {
  const r = ranges.get(file);
  return !r || (line >= r[0] && line <= r[1]);
};

const DETECTED = new Set(["Killed", "Timeout"]);
const UNDETECTED = new Set(["Survived", "NoCoverage"]);
let failed = false;
const rows: string[] = [];
for (const [name, files] of Object.entries(MODULES)) {
  let detected = 0;
  let undetected = 0;
  const alive: string[] = [];
  for (const f of files) {
    const file = report.files[f];
    if (!file) throw new Error(`${f} is missing from the report: is it in stryker.config.mjs' mutate list?`);
    for (const m of file.mutants) {
      if (!inScope(f, m.location.start.line)) continue;
      if (DETECTED.has(m.status)) detected++;
      else if (UNDETECTED.has(m.status)) {
        undetected++;
        alive.push(
          `    ${f}:${m.location.start.line}:${m.location.start.column} ${m.status} ${m.mutatorName} -> ${(m.replacement ?? "").replace(/\s+/g, " ").slice(0, 80)}`,
        );
      }
    }
  }
  const score = detected + undetected === 0 ? 100 : (100 * detected) / (detected + undetected);
  const ok = score >= TARGET;
  if (!ok) failed = true;
  rows.push(
    `${ok ? "ok  " : "LOW "} ${score.toFixed(2).padStart(6)} %  ${name} (${detected} killed, ${undetected} alive; ${files.join(", ")})`,
  );
  if (alive.length) rows.push(...alive);
}
console.log(`mutation score per module (target ${TARGET} %):`);
console.log(rows.join("\n"));
if (failed) {
  console.error(
    `a module is under ${TARGET} %: kill its surviving mutants with a test, or mark a truly equivalent one with // Stryker disable next-line <mutator>: <why> and explain it in the README`,
  );
  process.exit(1);
}
