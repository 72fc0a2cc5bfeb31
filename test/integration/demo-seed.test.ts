/**
 * The demo data against a real Postgres: seeded once into an empty database, then only the demo
 * servers still on a demo upstream follow it to its new port and credential; --reset-demo restores it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedDemo } from "../../scripts/lib/seed";
import type { Upstream } from "../../scripts/lib/upstreams";
import { openServerHeaders } from "../../shared/repos/servers.repo";
import { randomToken } from "../../shared/crypto";
import { keyRing, type KeyRing } from "../../shared/secrets";
import { createTestDatabase, type TestDatabase } from "../harness/db";

/** What startDemoUpstreams gives, for one start (processes are not needed here). */
function upstreams(base: number): Upstream[] {
  return ["everything", "modern", "memory", "files"].map((id, i) => ({
    id,
    url: `http://127.0.0.1:${base + i}/mcp`,
    headers: { Authorization: `Bearer ${id}-${base}-${"t".repeat(32)}` },
    proc: null as never,
  }));
}

let db: TestDatabase;
let ring: KeyRing;
beforeAll(async () => {
  db = await createTestDatabase();
  ring = await keyRing({ SECRETS_KEY: randomToken(32), SECRETS_KEY_PREVIOUS: [] });
});
afterAll(() => db.drop());

const url = async (id: string) => (await db.sql`SELECT url FROM servers WHERE id = ${id}`)[0]?.url;
const tenantsOf = async (group: string) =>
  (await db.sql`SELECT tenant_id FROM group_tenant_mapping WHERE group_name = ${group} ORDER BY tenant_id`).map(
    (r) => r.tenant_id,
  );

describe("the demo seed", () => {
  it("seeds an empty database once; later starts keep an admin's changes and move only the demo servers still on a demo upstream", async () => {
    expect(await seedDemo(db.sql, upstreams(40000), ring)).toBe("seeded");
    expect(await tenantsOf("google-users")).toEqual(["github", "google"]);
    // the admin: a grant removed, a tool rule added, a demo server pointed elsewhere, a demo user gone
    await db.sql`DELETE FROM group_tenant_mapping WHERE group_name = 'google-users' AND tenant_id = 'github'`;
    await db.sql`INSERT INTO group_tool_rules (group_name, server_id, tool, effect) VALUES ('google-users', 'everything', 'echo', 'deny')`;
    await db.sql`UPDATE servers SET url = 'https://memory.example.com/mcp' WHERE id = 'memory'`;
    await db.sql`DELETE FROM users WHERE email = 'miketest@microsoft.com'`;

    expect(await seedDemo(db.sql, upstreams(41000), ring)).toBe("kept");
    expect(await tenantsOf("google-users")).toEqual(["google"]);
    expect(
      (await db.sql`SELECT tool FROM group_tool_rules WHERE group_name = 'google-users'`).map((r) => r.tool),
    ).toEqual(["echo"]);
    expect(await url("memory")).toBe("https://memory.example.com/mcp");
    expect((await db.sql`SELECT 1 FROM users WHERE email = 'miketest@microsoft.com'`).length).toBe(0);
    // the demo server still on a demo upstream: this start's port and credential
    expect(await url("everything")).toBe("http://127.0.0.1:41000/mcp");
    const [row] = await db.sql`SELECT headers FROM servers WHERE id = 'everything'`;
    expect(JSON.stringify(row!.headers)).not.toContain("everything-41000");
    expect(await openServerHeaders(ring, "everything", row!.headers as Record<string, string>)).toEqual(
      upstreams(41000)[0]!.headers,
    );
    expect((await db.sql`SELECT count(*)::int AS n FROM audit_log WHERE actor LIKE 'demo-%'`)[0]!.n).toBe(1);
  });

  it("--reset-demo restores the demo as first created, keeping what lies outside it", async () => {
    await db.sql`INSERT INTO groups (name) VALUES ('ops')`;
    expect(await seedDemo(db.sql, upstreams(42000), ring, { reset: true })).toBe("reset");
    expect(await tenantsOf("google-users")).toEqual(["github", "google"]);
    expect((await db.sql`SELECT 1 FROM group_tool_rules WHERE group_name = 'google-users'`).length).toBe(0);
    expect(await url("memory")).toBe("http://127.0.0.1:42002/mcp");
    expect((await db.sql`SELECT 1 FROM users WHERE email = 'miketest@microsoft.com'`).length).toBe(1);
    expect((await db.sql`SELECT 1 FROM groups WHERE name = 'ops'`).length).toBe(1);
  });

  it("adds nothing to a database that already holds other data", async () => {
    const other = await createTestDatabase();
    try {
      await other.sql`INSERT INTO tenants (id, name) VALUES ('acme', 'Acme')`;
      expect(await seedDemo(other.sql, upstreams(43000), ring)).toBe("skipped");
      expect((await other.sql`SELECT id FROM tenants`).map((r) => r.id)).toEqual(["acme"]);
      expect((await other.sql`SELECT 1 FROM audit_log`).length).toBe(0);
    } finally {
      await other.drop();
    }
  });
});
