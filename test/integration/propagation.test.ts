/**
 * The CONTRACT's promise at the production cache settings (IDENTITY_VERSION_TTL_MS,
 * MCP_CATALOG_TTL_MS and CATALOG_VERSION_TTL_MS at their defaults; the other test files force the
 * first two to 0, which would hide a wrong default): a change made through the admin API is in
 * force for every MCP request that starts 2 seconds after the API answered. Each test keeps the
 * caches warm with the old state until then (test/harness/contract.ts), then starts its checks
 * at that moment, never later: a grant removed, a membership removed, a key revoked, a grant
 * added. Real workerd, Postgres and server-everything.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEverything, type Upstream } from "../../scripts/lib/upstreams";
import { untilInForce } from "../harness/contract";
import { startTestStack, type TestStack } from "../harness/stack";
import { rawInitialize, rawPost } from "./mcp.fixture";

let t: TestStack;
let up: Upstream;

beforeAll(async () => {
  up = await startEverything("propagation");
  t = await startTestStack({ caches: "production" });
  const sql = t.db.sql;
  await sql`INSERT INTO tenants (id, name) VALUES ('acme', 'Acme')`;
  await sql`INSERT INTO servers (id, tenant_id, url) VALUES ('tools', 'acme', ${up.url})`;
}, 120_000);
afterAll(async () => {
  await t?.stop();
  await up?.proc.stop();
});

const api = (method: string, path: string, json?: unknown) =>
  t.fetch(`/admin/api${path}`, { method, key: t.adminKey, json });
const list = (key: string, path: string, session: string) =>
  rawPost(t.url, path, key, { jsonrpc: "2.0", id: 2, method: "tools/list" }, { "mcp-session-id": session });
const echo = (key: string, path: string, session: string, name: string) =>
  rawPost(
    t.url,
    path,
    key,
    { jsonrpc: "2.0", id: 3, method: "tools/call", params: { name, arguments: { message: "still here?" } } },
    { "mcp-session-id": session, accept: "application/json" },
  );

/** A user in `group` (which grants acme) with a key, and open sessions on /mcp and /mcp/tools that can call echo. */
async function grantedUser(email: string, group: string) {
  expect((await api("PUT", `/groups/${group}`, { tenants: ["acme"] })).status).toBeLessThan(300);
  expect((await api("PUT", `/users/${email}`, { groups: [group] })).status).toBeLessThan(300);
  const issued = await api("POST", `/users/${email}/keys`, { name: "propagation" });
  const { key, id } = (await issued.json()) as { key: string; id: string };
  // the grant itself is in force 2 s after it was made: start from a settled state
  await untilInForce(Date.now());
  const agg = (await rawInitialize(t.url, "/mcp", key)).session!;
  const one = (await rawInitialize(t.url, "/mcp/tools", key)).session!;
  expect((await echo(key, "/mcp", agg, "tools__echo")).body.result.content[0].text).toBe("Echo: still here?");
  expect((await echo(key, "/mcp/tools", one, "echo")).body.result.content[0].text).toBe("Echo: still here?");
  const warm = () =>
    Promise.all([
      list(key, "/mcp", agg),
      echo(key, "/mcp", agg, "tools__echo"),
      list(key, "/mcp/tools", one),
      t.fetch("/admin/api/whoami", { key }),
    ]);
  return { key, id, agg, one, warm };
}

/** What a user who may no longer use acme gets from requests that all start now. */
async function expectNoAccess(key: string, agg: string, one: string) {
  const [aggList, aggCall, oneList, oneInit] = await Promise.all([
    list(key, "/mcp", agg),
    echo(key, "/mcp", agg, "tools__echo"),
    list(key, "/mcp/tools", one),
    rawInitialize(t.url, "/mcp/tools", key),
  ]);
  expect(aggList.body.result.tools).toEqual([]);
  expect(aggCall.body.error).toMatchObject({ code: -32602, message: "Unknown tool: tools__echo" });
  expect(oneList.status).toBe(403);
  expect(oneInit.status).toBe(403);
}

describe("a change through the admin API is in force for every MCP request starting 2 s after the answer (production TTLs)", () => {
  it("a grant removed from the user's group: lists empty, calls unknown, the server refused", async () => {
    const u = await grantedUser("grant@acme.test", "grant-removed");
    const res = await api("PUT", "/groups/grant-removed", { tenants: [] });
    const answered = Date.now();
    expect(res.status).toBe(200);
    const inForce = await untilInForce(answered, u.warm);
    await expectNoAccess(u.key, u.agg, u.one);
    await inForce.settled;
  });

  it("the user removed from the group", async () => {
    const u = await grantedUser("member@acme.test", "membership-removed");
    const res = await api("PUT", "/users/member@acme.test", { groups: [] });
    const answered = Date.now();
    expect(res.status).toBe(200);
    const inForce = await untilInForce(answered, u.warm);
    await expectNoAccess(u.key, u.agg, u.one);
    await inForce.settled;
  });

  it("a key revoked: the open MCP sessions, a new one and the admin API all refuse it with 401", async () => {
    const u = await grantedUser("revoked@acme.test", "key-revoked");
    const res = await api("DELETE", `/users/revoked@acme.test/keys/${u.id}`);
    const answered = Date.now();
    expect(res.status).toBe(204);
    const inForce = await untilInForce(answered, u.warm);
    const [aggList, oneList, fresh, whoami] = await Promise.all([
      list(u.key, "/mcp", u.agg),
      list(u.key, "/mcp/tools", u.one),
      rawInitialize(t.url, "/mcp", u.key),
      t.fetch("/admin/api/whoami", { key: u.key }),
    ]);
    expect([aggList.status, oneList.status, fresh.status, whoami.status]).toEqual([401, 401, 401, 401]);
    await inForce.settled;
  });

  it("a grant added: the server's tools listed and callable", async () => {
    expect((await api("PUT", "/groups/grant-added", { tenants: [] })).status).toBeLessThan(300);
    expect((await api("PUT", "/users/newcomer@acme.test", { groups: ["grant-added"] })).status).toBeLessThan(300);
    const { key } = (await (await api("POST", "/users/newcomer@acme.test/keys", { name: "propagation" })).json()) as {
      key: string;
    };
    await untilInForce(Date.now());
    const agg = (await rawInitialize(t.url, "/mcp", key)).session!;
    const warm = () => Promise.all([list(key, "/mcp", agg), echo(key, "/mcp", agg, "tools__echo")]);
    await warm();
    expect((await list(key, "/mcp", agg)).body.result.tools).toEqual([]);
    const res = await api("PUT", "/groups/grant-added", { tenants: ["acme"] });
    const answered = Date.now();
    expect(res.status).toBe(200);
    const inForce = await untilInForce(answered, warm);
    const [listed, called, one] = await Promise.all([
      list(key, "/mcp", agg),
      echo(key, "/mcp", agg, "tools__echo"),
      rawInitialize(t.url, "/mcp/tools", key),
    ]);
    expect(listed.body.result.tools.map((x: { name: string }) => x.name)).toContain("tools__echo");
    expect(called.body.result.content[0].text).toBe("Echo: still here?");
    expect(one.status).toBe(200);
    await inForce.settled;
  });
});
