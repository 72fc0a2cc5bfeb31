/**
 * The Postgres pool's RPC surface (shared/pool), inside workerd: an operation's result and its
 * errors cross the boundary with their Postgres code (so callers still tell "unreachable" and
 * "too many connections" from a bug), an unknown operation is refused by name, and a worker without
 * the binding fails with a message that says what to bind. The pool against a real Postgres is
 * exercised by every integration test (the workers use nothing else on their request path).
 */
import { describe, expect, it } from "vitest";
import type { Sql } from "../../shared/db";
import { isConnectionError } from "../../shared/db";
import { PoolError, poolOf, runOp, type Outcome, type PoolStub } from "../../shared/pool";

const fakeSql = {} as Sql;
const ops = {
  add: async (_sql: Sql, a: number, b: number) => a + b,
  when: async (_sql: Sql) => ({ at: new Date(0), seen: new Map([["k", 1]]) }),
  tooMany: async () => {
    throw Object.assign(new Error("sorry, too many clients already"), { code: "53300" });
  },
  refused: async () => {
    throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
  },
};

/** A stub that runs `ops` in place, through structured clone as an RPC would. */
function namespaceOf(o: typeof ops) {
  const stub: PoolStub = {
    run: async (op, args) => structuredClone(await runOp(o, fakeSql, op, structuredClone(args))) as Outcome,
  };
  return { idFromName: (n: string) => ({ n }), get: () => stub };
}

describe("the pool's operations", () => {
  it("returns results by structured clone (dates and maps survive)", async () => {
    const pool = poolOf<typeof ops>(namespaceOf(ops));
    expect(await pool.run("add", 2, 3)).toBe(5);
    const r = await pool.run("when");
    expect(r.at).toEqual(new Date(0));
    expect(r.seen.get("k")).toBe(1);
  });

  it("rethrows an operation's error with its code, so the worker answers 503, not 500", async () => {
    const pool = poolOf<typeof ops>(namespaceOf(ops));
    const busy = await pool.run("tooMany").catch((e: unknown) => e);
    expect(busy).toBeInstanceOf(PoolError);
    expect(busy).toMatchObject({ code: "53300", message: "sorry, too many clients already" });
    const down = await pool.run("refused").catch((e: unknown) => e);
    expect(isConnectionError(down)).toBe(true);
  });

  it("refuses an unknown operation by name (and never reaches inherited properties)", async () => {
    expect(await runOp(ops, fakeSql, "drop", [])).toEqual({
      ok: false,
      error: { name: "Error", message: "unknown pool operation drop" },
    });
    expect(await runOp(ops, fakeSql, "constructor", [])).toMatchObject({
      ok: false,
      error: { message: "unknown pool operation constructor" },
    });
  });

  it("says what to bind when the worker has no PG_POOL binding", () => {
    expect(() => poolOf(undefined)).toThrow(/PG_POOL binding missing/);
  });
});
