/**
 * Instructions per operation under valgrind's callgrind: the figure for comparing builds on this
 * host, where CPU seconds per operation move by 20% and more from run to run with the machine
 * (the same build gives the same instruction count within about 2%). workerd is started under
 * callgrind with instrumentation off (`MCPGW_WORKERD_CALLGRIND=1`, scripts/lib/workerd.ts);
 * {@link countInstructions} switches it on, warms up, zeroes the counters, runs the operations
 * and reads them. About 50x slower than without.
 */
import { execFileSync } from "node:child_process";

/** `callgrind_control` on the one callgrind run (workerd's); its output. */
function callgrind(...args: string[]): string {
  return execFileSync("callgrind_control", args, { encoding: "utf8" });
}

/**
 * Runs `warm` then `count` operations through `drive` (which runs operations until its argument
 * says stop, returning how many ran) and returns the instructions per operation: all threads,
 * and the busiest thread (workerd's, steadier: the others are V8's compiler and GC helpers).
 */
export async function countInstructions(
  drive: (more: (n: number) => boolean) => Promise<number>,
  count: number,
  warm = 50,
): Promise<{ ops: number; perOp: number; busiestPerOp: number }> {
  callgrind("-i", "on");
  await drive((n) => n < warm);
  callgrind("-z");
  const ops = await drive((n) => n < count);
  const threads = [...callgrind("-e").matchAll(/Th\s+(\d+)\s+([\d,]+)/g)].map((m) => Number(m[2]!.replace(/,/g, "")));
  return {
    ops,
    perOp: threads.reduce((a, b) => a + b, 0) / ops,
    busiestPerOp: Math.max(...threads) / ops,
  };
}
