// The tool-call audit queue inside workerd: one record Postgres refuses for its data is quarantined
// and everything else is written; while Postgres is unreachable nothing is lost. The database is an
// in-memory stand-in here (the refusal is injected); test/integration/mcp-abuse.test.ts checks
// audit count == call count against real Postgres under hostile names.
import { describe, expect, it } from "vitest";
import { auditStats, recordToolCall } from "../../workers/mcp/src/audit";
import type { McpDb } from "../../workers/mcp/src/db";

type Row = { tool: string; actor: string };

function db(refuse: (rows: Row[]) => unknown | null) {
  const written: Row[] = [];
  const attempts: number[] = [];
  const d = {
    run: async (op: string, rows: Row[]) => {
      if (op !== "insertToolCalls") throw new Error(`unexpected ${op}`);
      attempts.push(rows.length);
      const err = refuse(rows);
      if (err) throw err;
      written.push(...rows);
    },
  } as unknown as McpDb;
  return { d, written, attempts };
}

const rec = (tool: string) => ({ actor: "a@example.com", server: "s", tool, outcome: "ok" as const, durationMs: 1 });

describe("the audit queue", () => {
  it("quarantines a record Postgres refuses on its own and writes every other one", async () => {
    const poison = Object.assign(new Error("invalid byte sequence for encoding"), { code: "22021" });
    const { d, written } = db((rows) => (rows.some((r) => r.tool === "poison") ? poison : null));
    const before = auditStats.quarantined;
    const drained = recordToolCall(d, rec("one"));
    for (const t of ["two", "poison", "three", "four"]) void recordToolCall(d, rec(t));
    await drained;
    expect(written.map((r) => r.tool)).toEqual(["one", "two", "three", "four"]);
    expect(auditStats.quarantined - before).toBe(1);
    // the queue is not blocked: the next record is written at once
    await recordToolCall(d, rec("after"));
    expect(written.at(-1)?.tool).toBe("after");
  });

  it("keeps records while Postgres is unreachable and writes them when it answers again", async () => {
    let down = 2;
    const { d, written } = db(() =>
      down-- > 0 ? Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }) : null,
    );
    const drained = recordToolCall(d, rec("kept-1"));
    void recordToolCall(d, rec("kept-2"));
    await drained;
    expect(written.map((r) => r.tool)).toEqual(["kept-1", "kept-2"]);
  });

  it("makes values storable before queueing them: no NUL or control characters, bounded length", async () => {
    const { d, written } = db(() => null);
    await recordToolCall(d, rec(`evil\u0000name\u0007${"x".repeat(400)}`));
    expect(written[0]!.tool).toMatch(/^evil\uFFFDname\uFFFDx+$/);
    expect(written[0]!.tool.length).toBe(256);
  });
});
