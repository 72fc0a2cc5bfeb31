/**
 * docs/admin.md works as written: its shell blocks run in order (bash + curl) against the real
 * stack, and the database ends up as the guide says. The one change: the example upstream URL
 * (mcp.example.com) is replaced by a loopback address, since tests stay off the network.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unseal } from "../../shared/secrets";
import { startTestStack, type TestStack } from "../harness/stack";

let t: TestStack;
beforeAll(async () => {
  t = await startTestStack();
});
afterAll(() => t?.stop());

describe("docs/admin.md", () => {
  it("runs every API example of the guide, in order", async () => {
    const doc = readFileSync(resolve(__dirname, "../../docs/admin.md"), "utf8");
    const blocks = [...doc.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThanOrEqual(6);
    const script = ["set -euo pipefail", ...blocks]
      .join("\n")
      .replaceAll("https://mcp.example.com/github/mcp", "http://127.0.0.1:9/github/mcp");
    const { stdout } = await promisify(execFile)("bash", ["-c", script], {
      env: { PATH: process.env.PATH, GW: t.url, ADMIN_KEY: t.adminKey },
      timeout: 60_000,
    });
    expect(stdout).toContain('"email":"admin@localhost"');
    expect(stdout).toContain('"headerNames":["Authorization"]');
    expect(stdout).not.toContain("ghp_example-token");
    expect(stdout).toMatch(/"key":"mcpgw_/);

    const sql = t.db.sql;
    expect(await sql`SELECT id, name FROM tenants`).toEqual([{ id: "acme", name: "Acme Corp" }]);
    // stored sealed (shared/secrets.ts), never as given
    const stored = (await sql`SELECT headers FROM servers WHERE id = 'acme-github'`)[0]!.headers as Record<
      string,
      string
    >;
    expect(Object.keys(stored)).toEqual(["Authorization"]);
    expect(stored.Authorization).toMatch(/^mcpgw:v1:/);
    expect(await unseal(await t.keyRing(), stored.Authorization!, "servers.headers:acme-github:Authorization")).toBe(
      "Bearer ghp_example-token",
    );
    expect(
      await sql`SELECT tool, effect FROM group_tool_rules WHERE group_name = 'acme-eng' ORDER BY effect, tool`,
    ).toEqual([
      { tool: "get_*", effect: "allow" },
      { tool: "search_*", effect: "allow" },
      { tool: "get_secret", effect: "deny" },
    ]);
    expect(await sql`SELECT group_name FROM user_group_membership WHERE user_email = 'alice@example.com'`).toEqual([
      { group_name: "acme-eng" },
    ]);
    const keys = await sql`SELECT revoked_at FROM api_keys WHERE user_email = 'alice@example.com'`;
    expect(keys).toHaveLength(1);
    expect(keys[0]!.revoked_at).not.toBeNull();
    const actions =
      await sql`SELECT action FROM audit_log WHERE kind = 'admin_change' AND actor = 'admin@localhost' ORDER BY id`;
    expect(actions.map((a) => a.action)).toEqual([
      "tenant.create",
      "server.create",
      "group.create",
      "group.update",
      "user.create",
      "key.issue",
      "key.revoke",
      "server.update",
      "override.create",
      "override.create",
      "virtual.create",
    ]);
    // the curated catalog's examples (reviewed definitions, overrides, virtual servers)
    expect((await sql`SELECT review FROM servers WHERE id = 'acme-github'`)[0]!.review).toBe("hold");
    expect(stdout).toContain('{"changes":[]}');
    expect(await sql`SELECT tool, name, hidden FROM tool_overrides ORDER BY tool`).toEqual([
      { tool: "delete_repo", name: null, hidden: true },
      { tool: "search_code", name: "find_code", hidden: false },
    ]);
    expect(
      await sql`SELECT server_id, tool, name FROM virtual_tools WHERE virtual_id = 'acme-dev' ORDER BY position`,
    ).toEqual([
      { server_id: "acme-github", tool: "search_code", name: "code_search" },
      { server_id: "acme-github", tool: "get_issue", name: null },
    ]);
  });
});
