/**
 * The operator's own ADMIN_API_KEY (CONTRACT: accepted exactly as given, any printable string of
 * 16-200 characters), not only the gateway's `mcpgw_` keys the rest of the harness uses: a key of
 * 40 characters with spaces and punctuation, used on /admin/api and /mcp through the edge.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestStack, type TestStack } from "../harness/stack";

// 40 printable characters: spaces, quotes, slashes, a colon, dots (JWT-like parts too)
const OWN_KEY = `Ops' key: "gw/prod" 2026.12 & more!!~~~~`;
let t: TestStack;

beforeAll(async () => {
  expect(OWN_KEY).toHaveLength(40);
  t = await startTestStack({ adminApiKey: OWN_KEY, forwardAuthPort: 0 });
});
afterAll(() => t?.stop());

const initialize = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "own-key", version: "1" } },
};

describe("ADMIN_API_KEY as the operator gives it", () => {
  it("is the admin's key on /admin/api: read and write", async () => {
    expect(t.adminKey).toBe(OWN_KEY);
    const who = await t.fetch("/admin/api/whoami", { key: OWN_KEY });
    expect(who.status).toBe(200);
    expect(await who.json()).toMatchObject({ email: "admin@localhost", admin: true, via: "apikey" });
    const put = await t.fetch("/admin/api/tenants/own-key-tenant", {
      method: "PUT",
      key: OWN_KEY,
      json: { name: "Own key" },
    });
    expect(put.status).toBe(201);
  });

  it("is accepted on /mcp", async () => {
    const res = await t.fetch("/mcp", {
      method: "POST",
      key: OWN_KEY,
      headers: { accept: "application/json, text/event-stream" },
      json: initialize,
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('"protocolVersion":"2025-06-18"');
  });

  it("only exactly as given: a changed character, a cut or an extra one is refused", async () => {
    for (const wrong of [
      OWN_KEY.slice(0, -1),
      `${OWN_KEY}x`,
      OWN_KEY.replace("gw/prod", "gw/prud"),
      OWN_KEY.toUpperCase(),
    ]) {
      expect((await t.fetch("/admin/api/whoami", { key: wrong })).status, wrong).toBe(401);
    }
  });

  it("is stored hashed, and the admin API shows none of its characters", async () => {
    const [row] = await t.db.sql`SELECT prefix, key_hash FROM api_keys WHERE name = 'ADMIN_API_KEY'`;
    expect(row!.prefix).toBe("(operator key)");
    expect(row!.key_hash).not.toContain(OWN_KEY);
    const listed = await (await t.fetch("/admin/api/users/admin@localhost/keys", { key: OWN_KEY })).text();
    expect(listed).toContain("(operator key)");
    expect(listed).not.toContain("Ops'");
  });

  it("is looked up once, then served from the identity cache like mcpgw_ keys, and revocable like them", async () => {
    expect((await t.fetch("/admin/api/whoami", { key: OWN_KEY })).status).toBe(200);
    // change the stored hash without moving the catalog version (only revocation and deletion
    // move it): a cached identity still answers, a fresh lookup could not find the key
    const [{ key_hash: hash }] = (await t.db
      .sql`SELECT key_hash FROM api_keys WHERE name = 'ADMIN_API_KEY'`) as unknown as [{ key_hash: string }];
    await t.db.sql`UPDATE api_keys SET key_hash = 'moved' WHERE name = 'ADMIN_API_KEY'`;
    try {
      expect((await t.fetch("/admin/api/whoami", { key: OWN_KEY })).status).toBe(200);
      expect(
        (
          await t.fetch("/mcp", {
            method: "POST",
            key: OWN_KEY,
            headers: { accept: "application/json, text/event-stream" },
            json: initialize,
          })
        ).status,
      ).toBe(200);
    } finally {
      await t.db.sql`UPDATE api_keys SET key_hash = ${hash} WHERE name = 'ADMIN_API_KEY'`;
    }
    // revocation moves the version: refused at once (IDENTITY_VERSION_TTL_MS is 0 in the harness)
    await t.db.sql`UPDATE api_keys SET revoked_at = now() WHERE name = 'ADMIN_API_KEY'`;
    expect((await t.fetch("/admin/api/whoami", { key: OWN_KEY })).status).toBe(401);
    await t.db.sql`UPDATE api_keys SET revoked_at = NULL WHERE name = 'ADMIN_API_KEY'`;
  });
});
