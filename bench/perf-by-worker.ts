/**
 * Where workerd's CPU goes, by worker, from a Linux `perf` recording of the workerd process with
 * V8's perf map (`v8Flags = ["--perf-basic-prof"]` in the config; docs/performance.md has the
 * steps). The V8 profiler cannot answer this in workerd: its clock stands still while code runs.
 *
 *   perf script -i perf.data -F comm,tid,ip,sym > perf.txt
 *   node --import tsx bench/perf-by-worker.ts perf.txt
 *
 * Each sample's JavaScript frames (`JS:... index.js:<line>:<col>`) are matched against the
 * bundles in dist/<worker>/index.js: a frame belongs to the workers whose bundle has the frame's
 * function name on that line. Samples with no JavaScript frame are the runtime's own work
 * (garbage collection told apart). Prints each worker's share and the innermost JavaScript
 * functions (with the runtime calls they make) that took the most samples.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ROOT } from "../scripts/lib/workers";

const WORKERS = ["edge", "auth", "catalog", "mcp", "admin"] as const;
const FRAME = /JS:[*+^~]*'?(\S*) index\.js:(\d+):(\d+)/;
const GC = /CollectGarbage|Scavenge|MinorGC|MarkCompact|Marking/;

const bundles = Object.fromEntries(
  WORKERS.map((w) => [w, readFileSync(resolve(ROOT, `dist/${w}/index.js`), "utf8").split("\n")]),
);
const owners = new Map<string, string[]>();
/** The workers whose bundle holds this frame (by name on the line; any bundle for an anonymous one). */
function ownersOf(name: string, line: number, col: number): string[] {
  const key = `${name}:${line}:${col}`;
  let hit = owners.get(key);
  if (!hit) {
    const bare = name.replace(/^#/, "").split(".").pop() ?? "";
    hit = WORKERS.filter((w) => {
      const text = bundles[w]![line - 1];
      return text !== undefined && (bare ? text.includes(bare) : text.length >= col);
    });
    owners.set(key, hit);
  }
  return hit;
}

const file = process.argv[2];
if (!file) throw new Error("usage: node --import tsx bench/perf-by-worker.ts <perf script output>");
const samples: string[][] = [];
let frames: string[] = [];
for (const line of readFileSync(file, "utf8").split("\n")) {
  if (!line.startsWith("\t") && !line.startsWith(" ")) {
    if (frames.length) samples.push(frames);
    frames = [];
    continue;
  }
  const at = line.trim().indexOf(" ");
  if (at > 0) frames.push(line.trim().slice(at + 1));
}
if (frames.length) samples.push(frames);

const byWorker = new Map<string, number>();
const innermost = new Map<string, number>();
const count = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
for (const stack of samples) {
  let set: string[] | null = null;
  let inner: string | null = null;
  for (const f of stack) {
    const m = FRAME.exec(f);
    if (!m) continue;
    const own = ownersOf(m[1]!, Number(m[2]), Number(m[3]));
    inner ??= `${m[1] || "(anonymous)"} (${own.join("/") || "?"} :${m[2]})`;
    const both: string[] = set ? set.filter((w) => own.includes(w)) : own;
    if (both.length) set = both;
  }
  if (!set) count(byWorker, stack.some((f) => GC.test(f)) ? "runtime: garbage collection" : "runtime: no JavaScript");
  else count(byWorker, set.length === 1 ? set[0]! : `shared (${set.join("/") || "?"})`);
  if (inner) count(innermost, inner);
}
const pct = (n: number) => `${((100 * n) / samples.length).toFixed(1).padStart(5)}%`;
console.log(`${samples.length} samples`);
for (const [k, n] of [...byWorker].sort((a, b) => b[1] - a[1])) console.log(`${pct(n)}  ${k}`);
console.log("\ninnermost JavaScript function (with the runtime calls it makes):");
for (const [k, n] of [...innermost].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.TOP ?? 30)))
  console.log(`${pct(n)}  ${k}`);
