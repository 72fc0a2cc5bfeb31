/**
 * The admin REST API against the real stack (workerd + Postgres): every endpoint, bad input
 * (400 naming the field), unknown ids (404), non-admins (403), no credentials (401), secrets
 * never returned, audit rows in the same transaction, PUT idempotent.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openServerHeaders } from "../../shared/repos/servers.repo";
import { startTestStack, type TestStack } from "../harness/stack";
import adminApp from "../../workers/admin/src/index";
import { OPERATIONS } from "../../workers/admin/src/openapi";

let t: TestStack;
let userKey: string;
const SECRET = "Bearer ghp_very-secret-value-123";

beforeAll(async () => {
  t = await startTestStack();
  userKey = await t.userKey("plain@example.com", { groups: ["staff"] });
});
afterAll(() => t?.stop());

const api = (path: string, init: RequestInit & { json?: unknown; key?: string | null } = {}) =>
  t.fetch(`/admin/api${path}`, { ...init, key: init.key === null ? undefined : (init.key ?? t.adminKey) });
const put = (path: string, json: unknown) => api(path, { method: "PUT", json });
const auditRows = (target: string) =>
  t.db.sql`SELECT action, actor, detail FROM audit_log WHERE kind = 'admin_change' AND target = ${target} ORDER BY id`;

async function expect400(res: Response, field: string) {
  expect(res.status).toBe(400);
  const body = (await res.json()) as { error: string; field: string; message: string };
  expect(body.error).toBe("invalid_request");
  expect(body.field).toBe(field);
  expect(body.message).toContain(field);
}

describe("authentication and authorisation", () => {
  it("answers 401 without credentials", async () => {
    const res = await api("/tenants", { key: null });
    expect(res.status).toBe(401);
  });
  it("answers 403 JSON to a non-admin on every kind of endpoint", async () => {
    for (const [method, path] of [
      ["GET", "/tenants"],
      ["PUT", "/tenants/x"],
      ["GET", "/access/plain@example.com"],
      ["GET", "/openapi.json"],
      ["POST", "/users/plain@example.com/keys"],
    ] as const) {
      const res = await api(path, { method, key: userKey, json: method === "GET" ? undefined : { name: "x" } });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(await res.json()).toMatchObject({ error: "forbidden" });
    }
    expect((await t.db.sql`SELECT count(*)::int AS n FROM tenants`)[0]!.n).toBe(0);
  });
  it("refuses a cross-origin change even with a valid key", async () => {
    const res = await api("/tenants/evil", {
      method: "PUT",
      json: { name: "Evil" },
      headers: { Origin: "https://evil.example" },
    });
    expect(res.status).toBe(403);
    expect((await api("/tenants/evil")).status).toBe(404);
  });
});

describe("response headers", () => {
  it("sends a nonce CSP whose nonce is the page's script's, no framing, no sniffing, no caching", async () => {
    for (const path of ["/admin/api/docs", "/admin/api/tenants"]) {
      const res = await t.fetch(path, { key: t.adminKey });
      expect(res.status, path).toBe(200);
      const csp = res.headers.get("content-security-policy") ?? "";
      expect(csp, path).toContain("default-src 'none'");
      expect(csp, path).toContain("frame-ancestors 'none'");
      expect(csp, path).toMatch(/script-src 'nonce-[A-Za-z0-9+/=_-]{16,}'/);
      expect(res.headers.get("x-frame-options"), path).toBe("DENY");
      expect(res.headers.get("x-content-type-options"), path).toBe("nosniff");
      expect(res.headers.get("cache-control"), path).toBe("no-store");
      if (path.endsWith("/docs")) {
        const nonce = /'nonce-([^']+)'/.exec(csp)![1]!;
        const html = await res.text();
        expect(html).toContain(`nonce="${nonce}"`);
        const again = (await t.fetch(path, { key: t.adminKey })).headers.get("content-security-policy");
        expect(again).not.toContain(nonce);
      } else await res.body?.cancel();
    }
  });
});

describe("tenants", () => {
  it("creates with 201, replaces with 200, and is idempotent (no audit row for a no-op)", async () => {
    const a = await put("/tenants/acme", { name: "Acme" });
    expect(a.status).toBe(201);
    expect(await a.json()).toMatchObject({ id: "acme", name: "Acme", servers: [] });
    const b = await put("/tenants/acme", { name: "Acme" });
    expect(b.status).toBe(200);
    const c = await put("/tenants/acme", { name: "Acme Corp" });
    expect(c.status).toBe(200);
    const rows = await auditRows("tenant:acme");
    expect(rows.map((r) => r.action)).toEqual(["tenant.create", "tenant.update"]);
    expect(rows[1]!.actor).toBe("admin@localhost");
    expect(rows[1]!.detail).toMatchObject({ before: { name: "Acme" }, after: { name: "Acme Corp" } });
    expect(await (await api("/tenants/acme")).json()).toMatchObject({ id: "acme", name: "Acme Corp" });
    const list = (await (await api("/tenants")).json()) as { tenants: { id: string }[] };
    expect(list.tenants.map((x) => x.id)).toContain("acme");
  });
  it("names the bad field and refuses bad ids", async () => {
    await expect400(await put("/tenants/acme2", { name: "" }), "name");
    await expect400(await put("/tenants/acme2", {}), "name");
    await expect400(await put("/tenants/Bad_Id", { name: "x" }), "id");
    await expect400(
      await api("/tenants/acme2", {
        method: "PUT",
        body: "{not json",
        headers: { "content-type": "application/json" },
      }),
      "(body)",
    );
  });
  it("answers 404 for unknown tenants", async () => {
    expect((await api("/tenants/nope")).status).toBe(404);
    expect((await api("/tenants/nope", { method: "DELETE" })).status).toBe(404);
  });
  it("deletes with 204", async () => {
    await put("/tenants/temp", { name: "Temp" });
    expect((await api("/tenants/temp", { method: "DELETE" })).status).toBe(204);
    expect((await api("/tenants/temp")).status).toBe(404);
    expect((await auditRows("tenant:temp")).map((r) => r.action)).toEqual(["tenant.create", "tenant.delete"]);
  });
});

describe("servers", () => {
  it("stores secret headers but never returns them", async () => {
    const res = await put("/servers/gh", {
      tenant: "acme",
      url: "http://127.0.0.1:9/mcp",
      headers: { Authorization: SECRET },
    });
    expect(res.status).toBe(201);
    const created = await res.text();
    expect(created).not.toContain("ghp_very-secret");
    expect(JSON.parse(created)).toMatchObject({
      id: "gh",
      tenant: "acme",
      enabled: true,
      headerNames: ["Authorization"],
    });
    expect(JSON.parse(created)).not.toHaveProperty("headers");
    for (const path of ["/servers", "/servers/gh", "/tenants/acme", "/audit", "/health", "/access/admin@localhost"]) {
      expect(await (await api(path)).text(), path).not.toContain("ghp_very-secret");
    }
    // stored sealed: the row holds ciphertext, which opens to the value given
    const [row] = await t.db.sql`SELECT headers FROM servers WHERE id = 'gh'`;
    expect(JSON.stringify(row)).not.toContain("ghp_very-secret");
    expect(row!.headers.Authorization).toMatch(/^mcpgw:v1:[0-9a-f]{16}:/);
    expect(await openServerHeaders(await t.keyRing(), "gh", row!.headers)).toEqual({ Authorization: SECRET });
    const audit = await auditRows("server:gh");
    expect(JSON.stringify(audit)).not.toContain("ghp_very-secret");
    expect(audit[0]!.detail).toMatchObject({ after: { headerNames: ["Authorization"] }, headersChanged: true });
  });
  it("keeps stored headers when a PUT omits them and clears them with {}", async () => {
    expect((await put("/servers/gh", { tenant: "acme", url: "http://127.0.0.1:9/mcp", enabled: false })).status).toBe(
      200,
    );
    const [kept] = await t.db.sql`SELECT headers, enabled FROM servers WHERE id = 'gh'`;
    expect(kept!.enabled).toBe(false);
    expect(await openServerHeaders(await t.keyRing(), "gh", kept!.headers)).toEqual({ Authorization: SECRET });
    const cleared = await put("/servers/gh2", {
      tenant: "acme",
      url: "http://127.0.0.1:9/x",
      headers: { "X-Key": "k" },
    });
    expect(cleared.status).toBe(201);
    expect(
      await (await put("/servers/gh2", { tenant: "acme", url: "http://127.0.0.1:9/x", headers: {} })).json(),
    ).toMatchObject({ headerNames: [] });
  });
  it("validates the body and references", async () => {
    await expect400(await put("/servers/s1", { tenant: "acme", url: "ftp://x" }), "url");
    await expect400(await put("/servers/s1", { tenant: "ghost", url: "http://x.example" }), "tenant");
    await expect400(await put("/servers/s1", { url: "http://x.example" }), "tenant");
    await expect400(
      await put("/servers/s1", { tenant: "acme", url: "http://x.example", headers: { "Bad Header": "v" } }),
      "headers.Bad Header",
    );
    await expect400(await put("/servers/s1", { tenant: "acme", url: "http://x.example", enabled: "yes" }), "enabled");
    await expect400(await put("/servers/" + "a".repeat(33), { tenant: "acme", url: "http://x.example" }), "id");
    expect((await api("/servers/s1")).status).toBe(404);
  });
  it("refuses to delete a tenant that has servers, and writes nothing", async () => {
    const before = (await t.db.sql`SELECT count(*)::int AS n FROM audit_log`)[0]!.n;
    const res = await api("/tenants/acme", { method: "DELETE" });
    expect(res.status).toBe(409);
    expect((await t.db.sql`SELECT count(*)::int AS n FROM audit_log`)[0]!.n).toBe(before);
    expect((await api("/tenants/acme")).status).toBe(200);
  });
  it("deletes servers", async () => {
    expect((await api("/servers/gh2", { method: "DELETE" })).status).toBe(204);
    expect((await api("/servers/gh2", { method: "DELETE" })).status).toBe(404);
  });
});

describe("groups and users", () => {
  it("creates a group with tenants and tool rules", async () => {
    const res = await put("/groups/Acme-Eng", {
      tenants: ["acme"],
      tools: { gh: { allow: ["search_*", "echo"], deny: ["search_secret"] } },
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({
      name: "acme-eng",
      tenants: ["acme"],
      tools: { gh: { allow: ["echo", "search_*"], deny: ["search_secret"] } },
    });
    expect(
      (
        await put("/groups/acme-eng", {
          tenants: ["acme"],
          tools: { gh: { allow: ["echo", "search_*"], deny: ["search_secret"] } },
        })
      ).status,
    ).toBe(200);
    expect((await auditRows("group:acme-eng")).length).toBe(1);
  });
  it("validates groups", async () => {
    await expect400(await put("/groups/g1", { tenants: ["ghost"] }), "tenants");
    await expect400(await put("/groups/g1", { tenants: "acme" }), "tenants");
    await expect400(await put("/groups/g1", { tenants: [], tools: { ghost: { allow: ["x"] } } }), "tools.ghost");
    await expect400(
      await put("/groups/g1", { tenants: [], tools: { gh: { allow: ["has space"] } } }),
      "tools.gh.allow.0",
    );
    await expect400(await put("/groups/-bad", { tenants: [] }), "name");
    expect((await api("/groups/g1")).status).toBe(404);
  });
  it("creates users case-insensitively with groups and an admin flag", async () => {
    const res = await put("/users/Alice@Example.COM", { groups: ["ACME-ENG"], name: "Alice" });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({
      email: "alice@example.com",
      groups: ["acme-eng"],
      admin: false,
      name: "Alice",
    });
    expect((await put("/users/alice@example.com", { groups: ["acme-eng"] })).status).toBe(200);
    const got = (await (await api("/users/ALICE@example.com")).json()) as {
      email: string;
      name: string;
      keys: unknown[];
    };
    expect(got).toMatchObject({ email: "alice@example.com", name: "Alice", keys: [] });
    const list = (await (await api("/users")).json()) as { users: { email: string }[] };
    expect(list.users.map((u) => u.email)).toEqual(expect.arrayContaining(["alice@example.com", "admin@localhost"]));
    expect((await auditRows("user:alice@example.com")).map((r) => r.action)).toEqual(["user.create"]);
  });
  it("validates users", async () => {
    await expect400(await put("/users/not-an-email", { groups: [] }), "email");
    await expect400(await put("/users/bob@example.com", { groups: ["ghost"] }), "groups");
    await expect400(await put("/users/bob@example.com", { groups: [], admin: "no" }), "admin");
    await expect400(await put("/users/admin@localhost", { groups: [] }), "admin");
    await expect400(await api("/users/ADMIN@localhost", { method: "DELETE" }), "email");
    expect((await api("/users/bob@example.com")).status).toBe(404);
    expect((await api("/users/bob@example.com", { method: "DELETE" })).status).toBe(404);
  });
  it("leaves memberships from the identity provider alone", async () => {
    await put("/groups/idp-team", { tenants: [] });
    await put("/users/dave@example.com", { groups: ["acme-eng"] });
    await t.db
      .sql`INSERT INTO user_group_membership (user_email, group_name, source) VALUES ('dave@example.com', 'idp-team', 'idp')`;
    expect(await (await api("/users/dave@example.com")).json()).toMatchObject({
      groups: ["acme-eng", "idp-team"],
      idpGroups: ["idp-team"],
    });
    const res = await put("/users/dave@example.com", { groups: [] });
    expect(await res.json()).toMatchObject({ groups: ["idp-team"], idpGroups: ["idp-team"] });
    // listing an IdP group makes it admin-managed
    expect(await (await put("/users/dave@example.com", { groups: ["idp-team"] })).json()).toMatchObject({
      groups: ["idp-team"],
      idpGroups: [],
    });
    expect((await api("/users/dave@example.com", { method: "DELETE" })).status).toBe(204);
  });
  it("deletes groups and users", async () => {
    await put("/groups/tmp", { tenants: [] });
    await put("/users/tmp@example.com", { groups: ["tmp"] });
    expect((await api("/groups/tmp", { method: "DELETE" })).status).toBe(204);
    expect(await (await api("/users/tmp@example.com")).json()).toMatchObject({ groups: [] });
    expect((await api("/users/tmp@example.com", { method: "DELETE" })).status).toBe(204);
    expect((await api("/users/tmp@example.com")).status).toBe(404);
  });
});

describe("API keys", () => {
  it("issues a key shown once, lists it without the key, and revokes it", async () => {
    const res = await api("/users/alice@example.com/keys", { method: "POST", json: { name: "laptop" } });
    expect(res.status).toBe(201);
    const { id, key } = (await res.json()) as { id: string; key: string };
    expect(key).toMatch(/^mcpgw_/);
    const who = await t.fetch("/admin/api/whoami", { key });
    expect(await who.json()).toMatchObject({ email: "alice@example.com", admin: false });
    const listed = await (await api("/users/alice@example.com/keys")).text();
    expect(listed).toContain(id);
    expect(listed).not.toContain(key);
    const one = await api(`/users/alice@example.com/keys/${id}`);
    expect(await one.json()).toMatchObject({ id, name: "laptop", revokedAt: null });
    expect((await api("/users/alice@example.com/keys/unknown")).status).toBe(404);
    expect(JSON.stringify(await auditRows("user:alice@example.com"))).not.toContain(key);
    expect((await api(`/users/alice@example.com/keys/${id}`, { method: "DELETE" })).status).toBe(204);
    expect((await t.fetch("/admin/api/whoami", { key })).status).toBe(401);
    expect((await api(`/users/alice@example.com/keys/${id}`, { method: "DELETE" })).status).toBe(404);
    expect((await auditRows("user:alice@example.com")).map((r) => r.action)).toEqual([
      "user.create",
      "key.issue",
      "key.revoke",
    ]);
  });
  it("validates key requests", async () => {
    expect((await api("/users/ghost@example.com/keys", { method: "POST", json: { name: "x" } })).status).toBe(404);
    expect((await api("/users/ghost@example.com/keys")).status).toBe(404);
    await expect400(await api("/users/alice@example.com/keys", { method: "POST", json: { name: "" } }), "name");
    await expect400(
      await api("/users/alice@example.com/keys", { method: "POST", json: { expiresInDays: 0 } }),
      "expiresInDays",
    );
    expect((await api("/users/alice@example.com/keys/nokey", { method: "DELETE" })).status).toBe(404);
    // an empty body takes the default name
    expect((await api("/users/alice@example.com/keys", { method: "POST" })).status).toBe(201);
  });
});

describe("access explanation", () => {
  it("shows each visible server and tool with the chain, and why others are hidden", async () => {
    await put("/servers/gh", { tenant: "acme", url: "http://127.0.0.1:9/mcp" }); // enabled again
    await put("/tenants/other", { name: "Other" });
    await put("/servers/hr", { tenant: "other", url: "http://127.0.0.1:9/hr" });
    // The tool snapshot is the catalog worker's job (it lists real upstreams); this test's
    // upstream URLs are unreachable, so the snapshot rows are written here directly.
    for (const name of ["echo", "search_code", "search_secret", "delete_repo"]) {
      await t.db
        .sql`INSERT INTO server_items (server_id, kind, name, definition, hash) VALUES ('gh', 'tool', ${name}, ${t.db.sql.json({ name })}, ${name})`;
    }
    const res = await api("/access/ALICE@example.com");
    expect(res.status).toBe(200);
    const a = (await res.json()) as any;
    expect(a).toMatchObject({ email: "alice@example.com", known: true, admin: false, groups: ["acme-eng"] });
    const gh = a.servers.find((s: any) => s.id === "gh");
    expect(gh.chains).toEqual(["alice@example.com -> group acme-eng -> tenant acme -> server gh"]);
    expect(gh.tools.map((x: any) => x.name).sort()).toEqual(["echo", "search_code"]);
    expect(gh.tools.find((x: any) => x.name === "echo").chains).toEqual([
      "alice@example.com -> group acme-eng -> tenant acme -> server gh -> tool echo",
    ]);
    expect(gh.hiddenTools).toEqual(
      expect.arrayContaining([
        { name: "search_secret", reason: 'group acme-eng denies "search_secret"' },
        expect.objectContaining({ name: "delete_repo", reason: expect.stringContaining("allows only") }),
      ]),
    );
    expect(a.hiddenServers).toContainEqual({
      id: "hr",
      tenant: "other",
      reason: "tenant other is not granted to any group",
    });
    const why = (await (await api("/access/alice@example.com?tool=delete_repo")).json()) as any;
    expect(why.tool.matches).toEqual([expect.objectContaining({ server: "gh", name: "delete_repo", visible: false })]);
    const yes = (await (await api("/access/alice@example.com?tool=gh__echo")).json()) as any;
    expect(yes.tool.matches[0]).toMatchObject({
      visible: true,
      chains: ["alice@example.com -> group acme-eng -> tenant acme -> server gh -> tool echo"],
    });
  });
  it("explains admins and unknown users", async () => {
    const admin = (await (await api("/access/admin@localhost")).json()) as any;
    expect(admin).toMatchObject({ admin: true, adminVia: "admin flag" });
    expect(admin.servers.map((s: any) => s.id)).toEqual(expect.arrayContaining(["gh", "hr"]));
    const nobody = (await (await api("/access/nobody@example.com")).json()) as any;
    expect(nobody).toMatchObject({ known: false, servers: [] });
    await expect400(await api("/access/not-an-email"), "email");
  });
  it("takes effect through the catalog version (the MCP caches' trigger)", async () => {
    const [before] = await t.db.sql`SELECT version FROM catalog_state`;
    await put("/users/alice@example.com", { groups: [] });
    const [after] = await t.db.sql`SELECT version FROM catalog_state`;
    expect(Number(after!.version)).toBeGreaterThan(Number(before!.version));
    const a = (await (await api("/access/alice@example.com")).json()) as any;
    expect(a.servers).toEqual([]);
    await put("/users/alice@example.com", { groups: ["acme-eng"] });
  });
});

describe("client mistakes in query parameters answer 400 naming the field, never 500", () => {
  const farDates = [
    "-010000-01-01T00:00:00Z",
    "+010000-01-01T00:00:00Z",
    "+275760-09-13T00:00:00Z",
    "-271821-04-20T00:00:00Z",
    "0000-01-01T00:00:00Z",
  ];
  it.each(farDates)(
    "audit, changes and usage refuse the date %s (outside the years 1-9999; -010000 made Postgres fail with 22009, a 500)",
    async (d) => {
      const q = encodeURIComponent(d);
      await expect400(await api(`/audit?since=${q}`), "since");
      await expect400(await api(`/audit?until=${q}`), "until");
      await expect400(await api(`/changes?since=${q}`), "since");
      await expect400(await api(`/reports/usage?since=${q}`), "since");
      await expect400(await api(`/reports/usage?until=${q}`), "until");
    },
  );
  it("refuses inherited property names and out-of-range numbers (a guard: the enums already refused them)", async () => {
    for (const name of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
      await expect400(await api(`/audit?kind=${name}`), "kind");
      await expect400(await api(`/reports/usage?bucket=${name}`), "bucket");
    }
    await expect400(await api("/audit?before=99999999999999999999"), "before");
    await expect400(await api("/audit?limit=1e400"), "limit");
  });
  it("the UI's usage page refuses ranges that are no range of its own (constructor, __proto__) with a 400 page naming range", async () => {
    for (const range of ["constructor", "__proto__", "toString", "valueOf", "2d"]) {
      const res = await t.fetch(`/admin/reports?range=${range}`, { key: t.adminKey, headers: { accept: "text/html" } });
      expect(res.status, range).toBe(400);
      const html = await res.text();
      expect(html, range).toContain("range: must be one of 1h, 24h, 7d, 30d");
    }
    expect(
      (await t.fetch("/admin/reports?range=7d", { key: t.adminKey, headers: { accept: "text/html" } })).status,
    ).toBe(200);
    expect((await t.fetch("/admin/reports", { key: t.adminKey, headers: { accept: "text/html" } })).status).toBe(200);
  });
  it("the UI's audit page refuses far dates with a 400 page naming the field", async () => {
    for (const d of ["-010000-01-01T00:00:00Z", "+010000-01-01T00:00"]) {
      const res = await t.fetch(`/admin/audit?since=${encodeURIComponent(d)}`, {
        key: t.adminKey,
        headers: { accept: "text/html" },
      });
      expect(res.status, d).toBe(400);
      expect(await res.text(), d).toContain("since: must be a date-time");
    }
  });
});

describe("audit, health, changes and usage", () => {
  it("filters the audit log", async () => {
    const all = (await (await api("/audit?kind=admin_change&actor=ADMIN@localhost&limit=5")).json()) as any;
    expect(all.entries).toHaveLength(5);
    expect(all.entries.every((e: any) => e.kind === "admin_change" && e.actor === "admin@localhost")).toBe(true);
    const gh = (await (await api("/audit?server=gh")).json()) as any;
    expect(gh.entries.length).toBeGreaterThan(0);
    expect(gh.entries.every((e: any) => e.target === "server:gh" || e.server === "gh")).toBe(true);
    const future = (await (
      await api(`/audit?since=${encodeURIComponent(new Date(Date.now() + 3_600_000).toISOString())}`)
    ).json()) as any;
    expect(future.entries).toEqual([]);
    await expect400(await api("/audit?kind=bogus"), "kind");
    await expect400(await api("/audit?limit=0"), "limit");
    await expect400(await api("/audit?since=yesterday"), "since");
  });
  it("reports upstream health from server_status", async () => {
    await t.db
      .sql`INSERT INTO server_status (server_id, ok, error, tool_count, latency_ms) VALUES ('hr', false, 'connection refused', 0, NULL)
                   ON CONFLICT (server_id) DO UPDATE SET ok = false, error = 'connection refused'`;
    const h = (await (await api("/health")).json()) as any;
    expect(h.servers.find((s: any) => s.server === "hr")).toMatchObject({
      ok: false,
      error: "connection refused",
      tenant: "other",
    });
  });
  it("lists tool changes", async () => {
    await t.db.sql`INSERT INTO item_changes (server_id, kind, name, change, before, after)
                   VALUES ('gh', 'tool', 'echo', 'changed', ${t.db.sql.json({ description: "old" })}, ${t.db.sql.json({ description: "new" })})`;
    const c = (await (await api("/changes?server=gh")).json()) as any;
    expect(c.changes[0]).toMatchObject({
      server: "gh",
      name: "echo",
      change: "changed",
      before: { description: "old" },
      after: { description: "new" },
    });
    await expect400(await api("/changes?limit=x"), "limit");
  });
  it("builds usage reports from tool_call rows", async () => {
    const rows: [string, string, string, string, number][] = [
      ["alice@example.com", "gh", "echo", "ok", 10],
      ["alice@example.com", "gh", "echo", "ok", 20],
      ["alice@example.com", "gh", "echo", "error", 30],
      ["bob@example.com", "hr", "list", "ok", 40],
      ["bob@example.com", "hr", "list", "denied", 0],
    ];
    for (const [actor, server, tool, outcome, ms] of rows) {
      await t.db
        .sql`INSERT INTO audit_log (kind, actor, action, server_id, tool, outcome, duration_ms) VALUES ('tool_call', ${actor}, 'tools/call', ${server}, ${tool}, ${outcome}, ${ms})`;
    }
    const r = (await (await api("/reports/usage?bucket=minute")).json()) as any;
    expect(r.totals).toMatchObject({ calls: 5, errors: 1, denied: 1, errorRate: 0.2, p50Ms: 20 });
    expect(r.by.user[0]).toMatchObject({ key: "alice@example.com", calls: 3, errors: 1 });
    expect(r.by.tenant.map((x: any) => x.key).sort()).toEqual(["acme", "other"]);
    expect(r.by.tool[0]).toMatchObject({ key: "gh__echo", calls: 3, p50Ms: 20, p95Ms: 29 });
    expect(r.series.reduce((n: number, s: any) => n + s.calls, 0)).toBe(5);
    const alice = (await (await api("/reports/usage?user=alice@example.com&tenant=acme")).json()) as any;
    expect(alice.totals.calls).toBe(3);
    await expect400(await api("/reports/usage?bucket=week"), "bucket");
    await expect400(
      await api(`/reports/usage?since=${new Date().toISOString()}&until=${new Date(Date.now() - 1000).toISOString()}`),
      "since",
    );
  });
});

describe("transactions", () => {
  it("writes nothing when the audit row cannot be written", async () => {
    await t.db.sql.unsafe(`CREATE FUNCTION fail_audit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.target = 'tenant:doomed' THEN RAISE EXCEPTION 'audit refused'; END IF; RETURN NEW; END $$`);
    await t.db.sql.unsafe(
      `CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION fail_audit()`,
    );
    try {
      const res = await put("/tenants/doomed", { name: "Doomed" });
      expect(res.status).toBe(500);
      expect(await res.text()).not.toMatch(/at .*\.ts|stack/i);
      expect(await t.db.sql`SELECT id FROM tenants WHERE id = 'doomed'`).toHaveLength(0);
    } finally {
      await t.db.sql.unsafe(`DROP TRIGGER fail_audit ON audit_log; DROP FUNCTION fail_audit()`);
    }
  });
});

describe("OpenAPI", () => {
  it("documents every route the API mounts, and every documented route is mounted and answers", async () => {
    // the worker's own app, as deployed (index.ts mounts a route or two beside api.routes.ts)
    const key = (method: string, path: string) => `${method.toUpperCase()} ${path.replace(/:(\w+)/g, "{$1}")}`;
    const mounted = new Set(
      adminApp.routes
        .filter((r) => r.path.startsWith("/admin/api") && !r.path.includes("*") && r.method !== "ALL")
        .map((r) => key(r.method, r.path)),
    );
    // served beside the API and not part of it: the document itself and its HTML rendering
    for (const own of ["GET /admin/api/openapi.json", "GET /admin/api/docs", "GET /admin/api"]) mounted.delete(own);
    const documented = new Set(OPERATIONS.map((op) => key(op.method, op.path)));
    expect(
      [...mounted].filter((k) => !documented.has(k)),
      "mounted but not documented",
    ).toEqual([]);
    expect(
      [...documented].filter((k) => !mounted.has(k)),
      "documented but not mounted",
    ).toEqual([]);
    // and through the real stack each documented route answers as a route (a 404 only as a JSON
    // "unknown id", never "no route"); empty bodies make the writes 400s, so nothing changes
    const sample: Record<string, string> = {
      id: "no-such-id",
      name: "no-such-group",
      email: "nobody@example.com",
      keyId: "00000000-0000-0000-0000-000000000000",
    };
    for (const op of OPERATIONS) {
      const path = op.path
        .replace(/\{(\w+)\}/g, (_, p: string) => encodeURIComponent(sample[p] ?? "x"))
        .replace(/^\/admin\/api/, "");
      const res = await api(path, {
        method: op.method.toUpperCase(),
        ...(op.method === "put" || op.method === "post" ? { json: "not an object" } : {}),
      });
      const body = (await res.json().catch(() => ({}))) as { error?: string; message?: string };
      expect(`${op.method} ${op.path} -> ${res.status} ${body.message ?? ""}`).not.toMatch(/no route for/);
      expect(res.status, `${op.method} ${op.path}`).toBeLessThan(500);
    }
  });

  it("at /admin/api sends a browser to the reference page and answers a program JSON", async () => {
    const browser = await api("", { headers: { accept: "text/html,application/xhtml+xml" }, redirect: "manual" });
    expect(browser.status).toBe(302);
    expect(browser.headers.get("location")).toBe("/admin/api/docs");
    const program = await api("", { redirect: "manual" });
    expect(program.status).toBe(200);
    expect(await program.json()).toEqual({ docs: "/admin/api/docs", openapi: "/admin/api/openapi.json" });
  });

  it("documents every contract endpoint from the zod schemas", async () => {
    const doc = (await (await api("/openapi.json")).json()) as any;
    expect(doc.openapi).toBe("3.1.0");
    for (const [path, method] of [
      ["/admin/api/tenants/{id}", "put"],
      ["/admin/api/servers/{id}", "put"],
      ["/admin/api/groups/{name}", "put"],
      ["/admin/api/users/{email}", "put"],
      ["/admin/api/users/{email}/keys", "post"],
      ["/admin/api/users/{email}/keys/{keyId}", "delete"],
      ["/admin/api/access/{email}", "get"],
      ["/admin/api/audit", "get"],
      ["/admin/api/health", "get"],
      ["/admin/api/changes", "get"],
      ["/admin/api/reports/usage", "get"],
    ] as const) {
      expect(doc.paths[path]?.[method], `${method} ${path}`).toBeTruthy();
    }
    expect(doc.components.schemas.ServerInput.properties.headers).toBeTruthy();
    expect(doc.components.schemas.ServerInput.required).toEqual(["tenant", "url"]);
    expect(doc.components.schemas.Server.properties).not.toHaveProperty("headers");
    const page = await api("/docs");
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("PUT</span> <code>/admin/api/servers/{id}");
  });
});
