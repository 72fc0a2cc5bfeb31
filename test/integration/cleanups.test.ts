/**
 * The stack's cleanups (scripts/lib/cleanups.ts): one stop however many ask. Ctrl-C while the
 * stack starts and the start failing because of it both stop it; two overlapping passes once
 * skipped the embedded Postgres (test/integration/start-demo.test.ts saw it left running).
 */
import { describe, expect, it } from "vitest";
import { cleanups } from "../../scripts/lib/cleanups";

const tick = () => new Promise((ok) => setTimeout(ok, 5));

describe("cleanups", () => {
  it("two stops at once run every cleanup once, newest first, and resolve when all ran", async () => {
    const ran: string[] = [];
    const c = cleanups();
    for (const name of ["postgres", "sql", "upstreams", "workerd"])
      c.add(async () => {
        await tick();
        ran.push(name);
      });
    const first = c.stop();
    const second = c.stop();
    expect(second).toBe(first);
    await Promise.all([first, second]);
    expect(ran).toEqual(["workerd", "upstreams", "sql", "postgres"]);
    await c.stop();
    expect(ran).toHaveLength(4);
  });

  it("a failing cleanup, thrown or rejected, does not keep the others from running", async () => {
    const ran: string[] = [];
    const c = cleanups();
    c.add(async () => void ran.push("postgres"));
    c.add((() => {
      throw new Error("thrown before any promise");
    }) as () => Promise<void>);
    c.add(async () => {
      throw new Error("rejected");
    });
    await c.stop();
    expect(ran).toEqual(["postgres"]);
  });

  it("one added while the stop runs runs in it; one added after it runs at once", async () => {
    const ran: string[] = [];
    const c = cleanups();
    c.add(async () => void ran.push("postgres"));
    c.add(async () => {
      // the start went on meanwhile and started something more
      c.add(async () => void ran.push("started during the stop"));
      await tick();
      ran.push("upstreams");
    });
    await c.stop();
    expect(ran).toEqual(["upstreams", "started during the stop", "postgres"]);
    let late = false;
    c.add(async () => void (late = true));
    await tick();
    expect(late).toBe(true);
  });
});
