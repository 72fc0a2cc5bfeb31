/**
 * Per-user upstream credentials (issue 14), with real parts only: the gateway under workerd and
 * real Postgres; a real OAuth authorization server (oidc-provider) and a real MCP server that
 * requires its JWT access tokens (test/harness/upstream-oauth.ts, the GitHub stand-in); the real
 * login provider of the stack; Chromium for the browser flow; SDK 1.x (session era, no
 * elicitation: how Open WebUI and Python clients call) and SDK 2.x (2026-07-28) clients.
 */
import { Client as LegacyClient } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as LegacyTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from "@modelcontextprotocol/client";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomToken } from "../../shared/crypto";
import { openConnectionSecrets, saveConnection } from "../../shared/repos/connections.repo";
import { openClientSecret } from "../../shared/repos/servers.repo";
import { resealSecrets } from "../../shared/repos/secrets.repo";
import { StoredCredentials } from "../../shared/credentials";
import { keyId, keyRing } from "../../shared/secrets";
import { launchChromium } from "../harness/browser";
import { startTestStack, type TestStack } from "../harness/stack";
import { startOAuthUpstream, type OAuthUpstream } from "../harness/upstream-oauth";

const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-quic",
  "--no-first-run",
  "--disable-component-update",
  "--disable-sync",
];
const ALICE = "alice@acme.test";
const BOB = "bob@acme.test";
const CAROL = "carol@acme.test";
const DAVE = "dave@acme.test";
const ERIN = "erin@acme.test";
const FRANK = "frank@acme.test";

let t: TestStack;
let up: OAuthUpstream;
let browser: Browser | undefined;
let alice: string;
let bob: string;
let carol: string;
let dave: string;
let erin: string;

type ToolResult = { content?: { type: string; text?: string }[]; isError?: boolean };
const text = (r: ToolResult) => (r.content ?? []).map((c) => c.text ?? "").join("");

/** Open WebUI's way: SDK 1.x, session era, no elicitation handler, one session per call. */
async function legacyCall(key: string, path: string, name: string): Promise<{ tools: string[]; result: ToolResult }> {
  const client = new LegacyClient({ name: "owui-style", version: "1.0.0" });
  await client.connect(
    new LegacyTransport(new URL(t.url + path), { requestInit: { headers: { Authorization: `Bearer ${key}` } } }),
  );
  try {
    const tools = (await client.listTools()).tools.map((x) => x.name);
    return { tools, result: (await client.callTool({ name, arguments: {} })) as ToolResult };
  } finally {
    await client.close();
  }
}

/** A 2026-07-28 client (SDK 2.x, auto negotiation). */
async function modernCall(
  key: string,
  path: string,
  name: string,
): Promise<{ era: string | undefined; result: ToolResult }> {
  const client = new ModernClient(
    { name: "sdk2", version: "1.0.0" },
    { capabilities: {}, versionNegotiation: { mode: "auto" } },
  );
  await client.connect(
    new ModernTransport(new URL(t.url + path), { requestInit: { headers: { Authorization: `Bearer ${key}` } } }),
  );
  try {
    return { era: client.getProtocolEra(), result: (await client.callTool({ name, arguments: {} })) as ToolResult };
  } finally {
    await client.close();
  }
}

const MODERN_META = (caps: Record<string, unknown>) => ({
  "io.modelcontextprotocol/protocolVersion": "2026-07-28",
  "io.modelcontextprotocol/clientCapabilities": caps,
  "io.modelcontextprotocol/clientInfo": { name: "raw-modern", version: "1" },
});

/** A 2026-07-28 tools/call over raw HTTP (stateless: no session, per-request capabilities). */
async function modernRaw(
  key: string,
  path: string,
  name: string,
  caps: Record<string, unknown>,
  extra: Record<string, unknown> = {},
  args: Record<string, unknown> = {},
) {
  const res = await fetch(t.url + path, {
    method: "POST",
    headers: {
      authorization: `Bearer ${key}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2026-07-28",
      "mcp-method": "tools/call",
      "mcp-name": name,
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name, arguments: args, _meta: MODERN_META(caps), ...extra },
    }),
  });
  const raw = await res.text();
  const last = (res.headers.get("content-type") ?? "").includes("text/event-stream")
    ? raw
        .split("\n")
        .filter((l) => l.startsWith("data:"))
        .at(-1)!
        .slice(5)
    : raw;
  return {
    status: res.status,
    body: JSON.parse(last) as { result?: Record<string, any>; error?: { code: number; message: string } },
  };
}

/** A user connects a server in a fresh browser context: the gateway's sign-in, then the upstream's (default: Alice as alice-gh to gh). */
async function browserConnect(
  server = "gh",
  who = { email: ALICE, password: "alice-pw", upstream: "alice-gh" },
): Promise<void> {
  browser ??= await launchChromium(ARGS);
  const ctx = await browser.newContext();
  try {
    const p = await ctx.newPage();
    await p.goto(`${t.url}/auth/connect/${server}`);
    await p.waitForSelector("form#login");
    await p.fill("input[name=email]", who.email);
    await p.fill("input[name=password]", who.password);
    await p.click("form#login button[type=submit]");
    await p.waitForSelector("#upstream-login", { timeout: 30_000 });
    await p.fill("#up-email", who.upstream);
    await p.fill("#up-password", "gh-pw");
    await p.click("#up-submit");
    await p.waitForSelector("#connected", { timeout: 30_000 });
  } finally {
    await ctx.close();
  }
}

/** RFC 7662 at the upstream's authorization server, as its client: whether it still takes the token. */
async function introspect(token: string): Promise<boolean> {
  const res = await fetch(`${up.issuer}/token/introspection`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `Basic ${Buffer.from(`${up.clientId}:${up.clientSecret}`).toString("base64")}`,
    },
    body: new URLSearchParams({ token }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { active: boolean }).active;
}

/** A connection's tokens, opened with the workers' key ring (they are stored sealed). */
async function storedTokens(email: string, server: string): Promise<{ access: string; refresh?: string } | null> {
  const [row] = await t.db
    .sql`SELECT secrets FROM user_connections WHERE user_email = ${email} AND server_id = ${server}`;
  if (!row) return null;
  const s = await openConnectionSecrets(await t.keyRing(), email, server, row.secrets as Record<string, string>);
  return { access: s.access!, ...(s.refresh ? { refresh: s.refresh } : {}) };
}

beforeAll(async () => {
  t = await startTestStack({
    internalPort: 0,
    idpUsers: [
      { email: ALICE, name: "Alice", password: "alice-pw", groups: [] },
      { email: FRANK, name: "Frank", password: "frank-pw", groups: [] },
    ],
  });
  up = await startOAuthUpstream({
    redirectUri: `${t.url}/auth/connect-callback`,
    users: { "alice-gh": "gh-pw", "frank-gh": "gh-pw" },
    pats: { "pat-of-carol-123": "carol-pat", "pat-of-dave-456": "dave-pat", "pat-of-erin-789": "erin-pat" },
  });
  const admin = (path: string, json: unknown) => t.fetch(path, { method: "PUT", key: t.adminKey, json });
  expect((await admin("/admin/api/tenants/acme", { name: "Acme" })).status).toBe(201);
  expect((await admin("/admin/api/groups/acme-users", { tenants: ["acme"] })).status).toBe(201);
  alice = await t.userKey(ALICE, { groups: ["acme-users"] });
  bob = await t.userKey(BOB, { groups: ["acme-users"] });
  carol = await t.userKey(CAROL, { groups: ["acme-users"] });
  dave = await t.userKey(DAVE, { groups: ["acme-users"] });
  erin = await t.userKey(ERIN, { groups: ["acme-users"] });
  await t.userKey(FRANK, { groups: ["acme-users"] });
  // issuer omitted: found through the upstream's RFC 9728 metadata
  const gh = await admin("/admin/api/servers/gh", {
    tenant: "acme",
    url: up.mcpUrl,
    credentials: {
      mode: "per-user-oauth",
      oauth: { clientId: up.clientId, clientSecret: up.clientSecret, scopes: "repo" },
    },
  });
  expect(gh.status).toBe(201);
  const tk = await admin("/admin/api/servers/tk", {
    tenant: "acme",
    url: up.mcpUrl,
    credentials: { mode: "per-user-token" },
  });
  expect(tk.status).toBe(201);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.stop();
  await up?.stop();
});

describe("admin: credential modes", () => {
  it("stores per-user OAuth settings with the client secret sealed, never returned", async () => {
    const res = await t.fetch("/admin/api/servers/gh", { key: t.adminKey });
    const raw = await res.text();
    expect(raw).not.toContain(up.clientSecret);
    const body = JSON.parse(raw);
    expect(body.credentials).toMatchObject({
      mode: "per-user-oauth",
      header: "Authorization",
      prefix: "Bearer ",
      oauth: { clientId: up.clientId, hasClientSecret: true, scopes: "repo" },
    });
    expect(body.connections).toBe(0);
    const [row] = await t.db.sql`SELECT credentials FROM servers WHERE id = 'gh'`;
    expect(String(row!.credentials.oauth.clientSecret)).toMatch(/^mcpgw:v1:[0-9a-f]{16}:/);
    const list = await (await t.fetch("/admin/api/servers", { key: t.adminKey })).text();
    expect(list).not.toContain(up.clientSecret);
  });

  it("refuses settings that cannot work, naming the field", async () => {
    const put = (credentials: unknown) =>
      t.fetch("/admin/api/servers/bad", {
        method: "PUT",
        key: t.adminKey,
        json: { tenant: "acme", url: up.mcpUrl, credentials },
      });
    const noOauth = await put({ mode: "per-user-oauth" });
    expect(noOauth.status).toBe(400);
    expect(JSON.stringify(await noOauth.json())).toContain("oauth");
    const badMode = await put({ mode: "everyone" });
    expect(badMode.status).toBe(400);
    const badHeader = await put({ mode: "per-user-token", header: "Mcp-Session-Id" });
    expect(badHeader.status).toBe(400);
    expect(JSON.stringify(await badHeader.json())).toContain("header");
  });
});

describe("a user who has not connected", () => {
  it("sees the server's tools but gets the connect link instead of the upstream's 401 (session-era client, no elicitation)", async () => {
    const before = up.seen.filter((s) => s.method === "tools/call").length;
    const { tools, result } = await legacyCall(bob, "/mcp", "gh__whoami");
    expect(tools).toContain("gh__whoami");
    expect(result.isError).toBe(true);
    expect(text(result)).toContain(`${t.url}/auth/connect/gh`);
    // nothing was sent upstream on Bob's behalf
    expect(up.seen.filter((s) => s.method === "tools/call").length).toBe(before);
  });

  it("gets the same link from a 2026-07-28 client", async () => {
    const { era, result } = await modernCall(bob, "/mcp/gh", "whoami");
    expect(era).toBe("modern");
    expect(result.isError).toBe(true);
    expect(text(result)).toContain(`${t.url}/auth/connect/gh`);
  });

  it("a client that takes URL-mode elicitation gets URLElicitationRequired with the connect URL", async () => {
    const client = new LegacyClient(
      { name: "url-elicit", version: "1.0.0" },
      { capabilities: { elicitation: { url: {} } } },
    );
    await client.connect(
      new LegacyTransport(new URL(`${t.url}/mcp/gh`), { requestInit: { headers: { Authorization: `Bearer ${bob}` } } }),
    );
    try {
      const err = (await client.callTool({ name: "whoami", arguments: {} }).then(
        () => null,
        (e: unknown) => e,
      )) as { code?: number; elicitations?: { mode: string; url: string }[] } | null;
      expect(err?.code).toBe(-32042);
      expect(err?.elicitations).toEqual([expect.objectContaining({ mode: "url", url: `${t.url}/auth/connect/gh` })]);
    } finally {
      await client.close();
    }
  });

  it("a 2026-07-28 client that declared elicitation.url gets an MRTR URL elicitation; after connecting, its retry goes through as that user (SDK 2.x)", async () => {
    const client = new ModernClient(
      { name: "sdk2-url", version: "1.0.0" },
      { capabilities: { elicitation: { url: {} } }, versionNegotiation: { mode: "auto" } },
    );
    const asked: { mode?: string; url?: string; message?: string }[] = [];
    client.setRequestHandler("elicitation/create", async (req) => {
      const p = req.params as { mode?: string; url?: string; message?: string };
      asked.push(p);
      // the user opens the link and connects (token mode: pastes their token), then accepts
      expect(
        (await t.fetch("/auth/connections/tk", { method: "PUT", key: dave, json: { token: "pat-of-dave-456" } }))
          .status,
      ).toBe(204);
      return { action: "accept" };
    });
    await client.connect(
      new ModernTransport(new URL(`${t.url}/mcp/tk`), {
        requestInit: { headers: { Authorization: `Bearer ${dave}` } },
      }),
    );
    try {
      expect(client.getProtocolEra()).toBe("modern");
      const result = (await client.callTool({ name: "whoami", arguments: {} })) as ToolResult;
      expect(result.isError).toBeFalsy();
      expect(text(result)).toBe("you are dave-pat");
    } finally {
      await client.close();
    }
    expect(asked).toEqual([
      expect.objectContaining({ mode: "url", url: `${t.url}/auth/connect/tk`, message: "Connect your account for tk" }),
    ]);
    expect(up.seen.filter((s) => s.method === "tools/call").at(-1)).toEqual({
      method: "tools/call",
      authorization: "Bearer pat-of-dave-456",
      subject: "dave-pat",
    });
    expect((await t.fetch("/auth/connections/tk", { method: "DELETE", key: dave })).status).toBe(204);
  });

  it("the MRTR connect prompt over raw HTTP: sealed state bound to the request; declined: the link as a tool error; without elicitation.url: the tool error", async () => {
    const URL_CAPS = { elicitation: { url: {} } };
    const first = await modernRaw(erin, "/mcp/tk", "whoami", URL_CAPS);
    expect(first.status).toBe(200);
    expect(first.body.result).toMatchObject({
      resultType: "input_required",
      inputRequests: {
        connect: { method: "elicitation/create", params: { mode: "url", url: `${t.url}/auth/connect/tk` } },
      },
    });
    const state = first.body.result!.requestState as string;
    expect(state).toMatch(/^mcpgw-state\./);
    // declined: the tool error with the link (what the user can still act on)
    const declined = await modernRaw(erin, "/mcp/tk", "whoami", URL_CAPS, {
      inputResponses: { connect: { action: "decline" } },
      requestState: state,
    });
    expect(declined.body.result).toMatchObject({ isError: true });
    expect(JSON.stringify(declined.body.result!.content)).toContain(`${t.url}/auth/connect/tk`);
    // accepted without having connected: asked again
    const again = await modernRaw(erin, "/mcp/tk", "whoami", URL_CAPS, {
      inputResponses: { connect: { action: "accept" } },
      requestState: state,
    });
    expect(again.body.result?.resultType).toBe("input_required");
    expect(
      (await t.fetch("/auth/connections/tk", { method: "PUT", key: erin, json: { token: "pat-of-erin-789" } })).status,
    ).toBe(204);
    // the state is bound to the request and the user
    const altered = await modernRaw(
      erin,
      "/mcp/tk",
      "whoami",
      URL_CAPS,
      { inputResponses: { connect: { action: "accept" } }, requestState: state },
      { other: 1 },
    );
    expect(altered.body.error).toMatchObject({ code: -32602 });
    const forged = await modernRaw(erin, "/mcp/tk", "whoami", URL_CAPS, {
      inputResponses: { connect: { action: "accept" } },
      requestState: state.slice(0, -4) + (state.endsWith("AAAA") ? "BBBB" : "AAAA"),
    });
    expect(forged.body.error).toMatchObject({ code: -32602 });
    // another (connected) user presenting Erin's state: refused, nothing sent upstream for it
    expect(
      (await t.fetch("/auth/connections/tk", { method: "PUT", key: dave, json: { token: "pat-of-dave-456" } })).status,
    ).toBe(204);
    const calls = up.seen.filter((x) => x.method === "tools/call").length;
    const foreign = await modernRaw(dave, "/mcp/tk", "whoami", URL_CAPS, {
      inputResponses: { connect: { action: "accept" } },
      requestState: state,
    });
    expect(foreign.body.error).toMatchObject({ code: -32602 });
    expect(up.seen.filter((x) => x.method === "tools/call").length).toBe(calls);
    expect((await t.fetch("/auth/connections/tk", { method: "DELETE", key: dave })).status).toBe(204);
    const done = await modernRaw(erin, "/mcp/tk", "whoami", URL_CAPS, {
      inputResponses: { connect: { action: "accept" } },
      requestState: state,
    });
    expect(done.body.result).toMatchObject({
      resultType: "complete",
      content: [{ type: "text", text: "you are erin-pat" }],
    });
    expect((await t.fetch("/auth/connections/tk", { method: "DELETE", key: erin })).status).toBe(204);
    // a modern client with form-mode elicitation only keeps the tool error with the link
    const formOnly = await modernRaw(erin, "/mcp/tk", "whoami", { elicitation: { form: {} } });
    expect(formOnly.body.result).toMatchObject({
      isError: true,
      _meta: { "io.github.mcp-gateway/connect": `${t.url}/auth/connect/tk` },
    });
    expect(formOnly.body.result!.resultType).not.toBe("input_required");
  });

  it("lists the servers to connect, without secrets; the browser page redirects to sign-in", async () => {
    const res = await t.fetch("/auth/connections", { key: bob });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      connections: [],
      servers: [
        { id: "gh", mode: "per-user-oauth", connected: false, connect: `${t.url}/auth/connect/gh` },
        { id: "tk", mode: "per-user-token", connected: false, connect: `${t.url}/auth/connect/tk` },
      ],
    });
    expect((await t.fetch("/auth/connections")).status).toBe(401);
    const page = await t.fetch("/auth/connect/gh");
    expect(page.status).toBe(302);
    expect(page.headers.get("location")).toBe(`/auth/login?rd=${encodeURIComponent("/auth/connect/gh")}`);
  });
});

describe("Alice connects in the browser and calls as herself", () => {
  it(
    "connects through the gateway's sign-in and the upstream's OAuth (code + PKCE + resource)",
    { timeout: 120_000 },
    async () => {
      browser = await launchChromium(ARGS);
      const ctx = await browser.newContext();
      const p = await ctx.newPage();
      await p.goto(`${t.url}/auth/connect/gh`);
      // the gateway's own sign-in (the stack's OIDC provider)
      await p.waitForSelector("form#login");
      await p.fill("input[name=email]", ALICE);
      await p.fill("input[name=password]", "alice-pw");
      await p.click("form#login button[type=submit]");
      // then the upstream's authorization server, as the upstream account alice-gh
      await p.waitForSelector("#upstream-login", { timeout: 30_000 });
      expect(p.url().startsWith(up.issuer)).toBe(true);
      const authorize = new URL(p.url());
      expect(authorize.origin).toBe(up.issuer);
      await p.fill("#up-email", "alice-gh");
      await p.fill("#up-password", "gh-pw");
      await p.click("#up-submit");
      await p.waitForSelector("#connected", { timeout: 30_000 });
      expect(p.url()).toContain(`${t.url}/auth/connect-callback`);
      // My connections, in the same browser
      await p.goto(`${t.url}/auth/connections`);
      expect(await p.textContent("body")).toMatch(/gh\s*OAuth\s*connected/);
      await ctx.close();

      const stored = await t.db
        .sql`SELECT secrets, token_endpoint, expires_at FROM user_connections WHERE user_email = ${ALICE} AND server_id = 'gh'`;
      expect(stored).toHaveLength(1);
      expect(String(stored[0]!.secrets.access)).toMatch(/^mcpgw:v1:/);
      expect(String(stored[0]!.secrets.refresh)).toMatch(/^mcpgw:v1:/);
      expect(stored[0]!.token_endpoint).toBe(`${up.issuer}/token`);
      const audit = await t.db
        .sql`SELECT action, detail::text AS detail FROM audit_log WHERE actor = ${ALICE} AND action LIKE 'connection.%'`;
      expect(audit.map((a) => a.action)).toEqual(["connection.connect"]);
    },
  );

  it("reaches the upstream as Alice (session-era and 2026-07-28 clients); her token is never shown", async () => {
    const { result } = await legacyCall(alice, "/mcp", "gh__whoami");
    expect(result.isError).toBeFalsy();
    expect(text(result)).toBe("you are alice-gh");
    const modern = await modernCall(alice, "/mcp/gh", "whoami");
    expect(text(modern.result)).toBe("you are alice-gh");

    const tokens = (await storedTokens(ALICE, "gh"))!;
    const calls = up.seen.filter((s) => s.method === "tools/call");
    expect(calls.at(-1)).toEqual({
      method: "tools/call",
      authorization: `Bearer ${tokens.access}`,
      subject: "alice-gh",
    });
    // nowhere in what users and admins can read
    const answers = await Promise.all([
      t.fetch("/auth/connections", { key: alice }).then((r) => r.text()),
      t.fetch("/admin/api/servers/gh", { key: t.adminKey }).then((r) => r.text()),
      t.fetch("/admin/api/audit", { key: t.adminKey }).then((r) => r.text()),
    ]);
    for (const a of answers) {
      expect(a).not.toContain(tokens.access);
      expect(a).not.toContain(tokens.refresh!);
    }
    expect(JSON.parse(answers[0]!).connections).toEqual([expect.objectContaining({ server: "gh", kind: "oauth" })]);
    expect(JSON.parse(answers[1]!).connections).toBe(1);
  });

  it(
    "the admin UI configures a per-user OAuth server and shows how many users connected",
    { timeout: 90_000 },
    async () => {
      const ctx = await browser!.newContext();
      const p = await ctx.newPage();
      await p.goto(`${t.url}/admin/servers`);
      await p.waitForSelector("form#login");
      await p.fill("input[name=email]", "admin@localhost");
      await p.fill("input[name=password]", "admin");
      await Promise.all([
        p.waitForURL((u) => u.href.startsWith(`${t.url}/admin`)),
        p.click("form#login button[type=submit]"),
      ]);
      await p.waitForSelector("#s-id");
      expect(await p.textContent(`[data-credentials=gh]`)).toBe("per-user OAuth · 1 connected");
      await p.fill("#s-id", "gh2");
      await p.selectOption("#s-tenant", "acme");
      await p.fill("#s-url", up.mcpUrl);
      await p.selectOption("#s-cred-mode", "per-user-oauth");
      await p.fill("#s-oauth-client", up.clientId);
      await p.fill("#s-oauth-secret", "ui-secret-value-1234");
      await p.fill("#s-oauth-scopes", "repo");
      await Promise.all([p.waitForNavigation(), p.click("form[action='/admin/servers'] button[type=submit]")]);
      expect(await p.textContent("body")).toContain("Server gh2 created");
      expect(await p.content()).not.toContain("ui-secret-value-1234");
      expect(await p.textContent(`[data-credentials=gh2]`)).toBe("per-user OAuth · 0 connected");
      await ctx.close();
      const body = (await (await t.fetch("/admin/api/servers/gh2", { key: t.adminKey })).json()) as {
        credentials: unknown;
      };
      expect(body.credentials).toEqual({
        mode: "per-user-oauth",
        header: "Authorization",
        prefix: "Bearer ",
        oauth: { clientId: up.clientId, scopes: "repo", hasClientSecret: true },
      });
      expect((await t.fetch("/admin/api/servers/gh2", { method: "DELETE", key: t.adminKey })).status).toBe(204);
    },
  );

  it("never gives Alice's token to Bob, under any spelling of the tool", async () => {
    const tokens = (await storedTokens(ALICE, "gh"))!;
    const before = up.seen.length;
    for (const [path, name] of [
      ["/mcp", "gh__whoami"],
      ["/mcp/gh", "whoami"],
      ["/mcp", "GH__whoami"],
      ["/mcp/gh", "gh__whoami"],
    ] as const) {
      const client = new LegacyClient({ name: "bob", version: "1" });
      await client.connect(
        new LegacyTransport(new URL(t.url + path), { requestInit: { headers: { Authorization: `Bearer ${bob}` } } }),
      );
      const r = (await client
        .callTool({ name, arguments: {} })
        .catch((e: Error) => ({ content: [{ type: "text", text: e.message }], isError: true }))) as ToolResult;
      await client.close();
      expect(r.isError).toBe(true);
      expect(text(r)).not.toContain("alice-gh");
    }
    expect(up.seen.slice(before).some((s) => s.authorization?.includes(tokens.access))).toBe(false);
    expect(up.seen.slice(before).filter((s) => s.method === "tools/call")).toEqual([]);
  });
});

describe("refresh and revocation", () => {
  it("refreshes an expired token before use", async () => {
    const old = (await storedTokens(ALICE, "gh"))!;
    await t.db
      .sql`UPDATE user_connections SET expires_at = now() - interval '1 minute' WHERE user_email = ${ALICE} AND server_id = 'gh'`;
    const { result } = await legacyCall(alice, "/mcp/gh", "whoami");
    expect(text(result)).toBe("you are alice-gh");
    const now = (await storedTokens(ALICE, "gh"))!;
    expect(now.access).not.toBe(old.access);
    expect(now.refresh).not.toBe(old.refresh); // rotated by the provider
    expect(up.seen.filter((s) => s.method === "tools/call").at(-1)!.authorization).toBe(`Bearer ${now.access}`);
    const [row] = await t.db
      .sql`SELECT refreshed_at, expires_at > now() AS live FROM user_connections WHERE user_email = ${ALICE} AND server_id = 'gh'`;
    expect(row!.refreshed_at).not.toBeNull();
    expect(row!.live).toBe(true);
  });

  it("an upstream 401 triggers one refresh and the call goes through", async () => {
    const old = (await storedTokens(ALICE, "gh"))!;
    up.deny.add(old.access);
    const { result } = await modernCall(alice, "/mcp/gh", "whoami");
    expect(text(result)).toBe("you are alice-gh");
    const now = (await storedTokens(ALICE, "gh"))!;
    expect(now.access).not.toBe(old.access);
    const actions = await t.db
      .sql`SELECT action FROM audit_log WHERE actor = ${ALICE} AND action = 'connection.refresh'`;
    expect(actions.length).toBe(2);
  });

  it("a grant revoked at the provider ends the connection: the user gets the link to connect again", async () => {
    const tokens = (await storedTokens(ALICE, "gh"))!;
    const revoke = await fetch(`${up.issuer}/token/revocation`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        authorization: `Basic ${Buffer.from(`${up.clientId}:${up.clientSecret}`).toString("base64")}`,
      },
      body: new URLSearchParams({ token: tokens.refresh ?? "", token_type_hint: "refresh_token" }),
    });
    expect(revoke.status).toBe(200);
    up.deny.add(tokens.access);
    const { result } = await legacyCall(alice, "/mcp", "gh__whoami");
    expect(result.isError).toBe(true);
    expect(text(result)).toContain(`${t.url}/auth/connect/gh`);
    expect(await storedTokens(ALICE, "gh")).toBeNull();
    const [last] = await t.db
      .sql`SELECT action, detail FROM audit_log WHERE actor = ${ALICE} AND action LIKE 'connection.%' ORDER BY id DESC LIMIT 1`;
    expect(last!.action).toBe("connection.disconnect");
    expect(JSON.stringify(last!.detail)).toContain("refresh refused");
  });
});

describe("disconnecting revokes at the provider (RFC 7009)", () => {
  it(
    "DELETE /auth/connections/{server} revokes the refresh token at the authorization server and deletes the record",
    { timeout: 120_000 },
    async () => {
      await browserConnect();
      const tokens = (await storedTokens(ALICE, "gh"))!;
      expect(tokens.refresh).toBeTruthy();
      expect(text((await legacyCall(alice, "/mcp/gh", "whoami")).result)).toBe("you are alice-gh");
      expect(await introspect(tokens.refresh!)).toBe(true);

      expect((await t.fetch("/auth/connections/gh", { method: "DELETE", key: alice })).status).toBe(204);
      expect(await storedTokens(ALICE, "gh")).toBeNull();
      // the provider no longer takes it: introspection says inactive, a refresh is refused
      expect(await introspect(tokens.refresh!)).toBe(false);
      const refresh = await fetch(`${up.issuer}/token`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          authorization: `Basic ${Buffer.from(`${up.clientId}:${up.clientSecret}`).toString("base64")}`,
        },
        body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: tokens.refresh!, resource: up.mcpUrl }),
      });
      expect(refresh.status).toBe(400);
      expect(((await refresh.json()) as { error: string }).error).toBe("invalid_grant");
      const [last] = await t.db
        .sql`SELECT action, detail::text AS detail FROM audit_log WHERE actor = ${ALICE} AND action LIKE 'connection.%' ORDER BY id DESC LIMIT 1`;
      expect(last!.action).toBe("connection.disconnect");
      expect(last!.detail).not.toContain(tokens.refresh!);
      // and the user is asked to connect again
      const after = await legacyCall(alice, "/mcp/gh", "whoami");
      expect(after.result.isError).toBe(true);
      expect(text(after.result)).toContain(`${t.url}/auth/connect/gh`);
    },
  );

  it(
    "the Disconnect button on My connections does the same in the browser: the form token's POST revokes at the provider",
    { timeout: 120_000 },
    async () => {
      await browserConnect();
      const tokens = (await storedTokens(ALICE, "gh"))!;
      expect(await introspect(tokens.refresh!)).toBe(true);
      browser ??= await launchChromium(ARGS);
      const ctx = await browser.newContext();
      try {
        const p = await ctx.newPage();
        // a browser without a session is sent to sign in, then back to the page
        await p.goto(`${t.url}/auth/connections`);
        await p.waitForSelector("form#login");
        await p.fill("input[name=email]", ALICE);
        await p.fill("input[name=password]", "alice-pw");
        await p.click("form#login button[type=submit]");
        await p.waitForSelector("#disconnect-gh", { timeout: 30_000 });
        expect(new URL(p.url()).pathname).toBe("/auth/connections");
        await Promise.all([p.waitForURL(`${t.url}/auth/connections`), p.click("#disconnect-gh")]);
        // back on the page (303), which now offers to connect again
        await p.waitForSelector("#connect-gh");
        expect(await p.textContent("body")).toMatch(/gh\s*OAuth\s*not connected/);
      } finally {
        await ctx.close();
      }
      expect(await storedTokens(ALICE, "gh")).toBeNull();
      expect(await introspect(tokens.refresh!)).toBe(false);
      const [last] = await t.db
        .sql`SELECT action FROM audit_log WHERE actor = ${ALICE} AND action LIKE 'connection.%' ORDER BY id DESC LIMIT 1`;
      expect(last!.action).toBe("connection.disconnect");
      const after = await legacyCall(alice, "/mcp/gh", "whoami");
      expect(text(after.result)).toContain(`${t.url}/auth/connect/gh`);
    },
  );

  it(
    "deleting a server or a user revokes their users' tokens at the provider before the rows go",
    { timeout: 120_000 },
    async () => {
      const put = await t.fetch("/admin/api/servers/gh3", {
        method: "PUT",
        key: t.adminKey,
        json: {
          tenant: "acme",
          url: up.mcpUrl,
          credentials: {
            mode: "per-user-oauth",
            oauth: { clientId: up.clientId, clientSecret: up.clientSecret, scopes: "repo" },
          },
        },
      });
      expect(put.status).toBe(201);
      await browserConnect("gh3");
      await browserConnect("gh3", { email: FRANK, password: "frank-pw", upstream: "frank-gh" });
      const alices = (await storedTokens(ALICE, "gh3"))!;
      const franks = (await storedTokens(FRANK, "gh3"))!;
      expect(await introspect(alices.refresh!)).toBe(true);
      expect(await introspect(franks.refresh!)).toBe(true);

      // the user: only their own connection goes
      expect((await t.fetch(`/admin/api/users/${FRANK}`, { method: "DELETE", key: t.adminKey })).status).toBe(204);
      expect(await introspect(franks.refresh!)).toBe(false);
      expect(await introspect(alices.refresh!)).toBe(true);
      expect(await t.db.sql`SELECT 1 FROM user_connections WHERE user_email = ${FRANK}`).toHaveLength(0);

      // the server: every user's connection to it
      expect((await t.fetch("/admin/api/servers/gh3", { method: "DELETE", key: t.adminKey })).status).toBe(204);
      expect(await introspect(alices.refresh!)).toBe(false);
      expect(await t.db.sql`SELECT 1 FROM user_connections WHERE server_id = 'gh3'`).toHaveLength(0);
      const audit = await t.db
        .sql`SELECT actor, detail->>'reason' AS reason FROM audit_log WHERE action = 'connection.disconnect' AND server_id = 'gh3' ORDER BY id`;
      expect(audit.map((a) => [a.actor, a.reason])).toEqual([
        [FRANK, "user deleted"],
        [ALICE, "server deleted"],
      ]);
    },
  );

  it(
    "a server's new address or credential mode ends its users' connections in the same change and revokes them where they were issued; other and refused changes keep them",
    { timeout: 180_000 },
    async () => {
      const oauth = {
        mode: "per-user-oauth",
        oauth: { clientId: up.clientId, clientSecret: up.clientSecret, scopes: "repo" },
      };
      const put = (json: Record<string, unknown>) =>
        t.fetch("/admin/api/servers/gh4", {
          method: "PUT",
          key: t.adminKey,
          json: { tenant: "acme", url: up.mcpUrl, ...json },
        });
      expect((await put({ credentials: oauth })).status).toBe(201);
      await browserConnect("gh4");
      const first = (await storedTokens(ALICE, "gh4"))!;
      expect(await introspect(first.refresh!)).toBe(true);

      // the same address and client (a new description, the secret omitted so the stored one stays): kept
      expect(
        (
          await put({
            description: "GitHub, described",
            credentials: { mode: "per-user-oauth", oauth: { clientId: up.clientId, scopes: "repo" } },
          })
        ).status,
      ).toBe(200);
      expect(await storedTokens(ALICE, "gh4")).toEqual(first);
      // a change refused as a whole (no such tenant) changes nothing, the connection included
      expect((await put({ tenant: "nope", url: `${up.mcpUrl}/moved`, credentials: oauth })).status).toBe(400);
      expect(await storedTokens(ALICE, "gh4")).toEqual(first);
      expect(await introspect(first.refresh!)).toBe(true);

      // another address: Alice's token is never sent there; it is revoked at the provider that issued it
      expect((await put({ url: `${up.mcpUrl}/moved`, credentials: oauth })).status).toBe(200);
      expect(await storedTokens(ALICE, "gh4")).toBeNull();
      expect(await introspect(first.refresh!)).toBe(false);

      // back, connected again, then another mode: revoked under the OAuth settings it was obtained with
      expect((await put({ credentials: oauth })).status).toBe(200);
      await browserConnect("gh4");
      const second = (await storedTokens(ALICE, "gh4"))!;
      expect(second.refresh).not.toBe(first.refresh);
      expect(await introspect(second.refresh!)).toBe(true);
      expect((await put({ credentials: { mode: "per-user-token" } })).status).toBe(200);
      expect(await storedTokens(ALICE, "gh4")).toBeNull();
      expect(await introspect(second.refresh!)).toBe(false);

      const audit = await t.db
        .sql`SELECT actor, detail->>'reason' AS reason FROM audit_log WHERE action = 'connection.disconnect' AND server_id = 'gh4' ORDER BY id`;
      expect(audit.map((a) => [a.actor, a.reason])).toEqual([
        [ALICE, "server address or credentials changed"],
        [ALICE, "server address or credentials changed"],
      ]);
      expect((await t.fetch("/admin/api/servers/gh4", { method: "DELETE", key: t.adminKey })).status).toBe(204);
    },
  );

  it("the catalog revokes dropped connections for the admin worker only; a malformed list is refused by name, a token that does not open is skipped", async () => {
    const dropped = {
      server: { id: "gh", url: up.mcpUrl, credentials: { mode: "per-user-oauth", oauth: { clientId: up.clientId } } },
      connections: [
        { email: ALICE, kind: "oauth", secrets: { access: "mcpgw:v1:not-sealed-here" }, tokenEndpoint: null },
      ],
    };
    const post = async (from: "mcp" | "admin", body: unknown) => {
      const res = await t.internal("/internal/connections/revoke-dropped", {
        method: "POST",
        headers: { "content-type": "application/json", ...(await t.serviceHeaders(from)) },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    expect(await post("mcp", dropped)).toEqual({
      status: 403,
      body: { error: "forbidden", message: "only the admin worker may revoke connections" },
    });
    const bad = await post("admin", { ...dropped, connections: [{ ...dropped.connections[0], email: "nobody" }] });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe("invalid_request");
    expect(String(bad.body.message)).toMatch(/^not a list of dropped connections: /);
    expect(await post("admin", dropped)).toEqual({ status: 200, body: { revoked: 0 } });
  });

  it("an authorization server that cannot be reached does not keep the record: still 204, deleted", async () => {
    expect(
      (
        await t.fetch("/admin/api/servers/gh", {
          method: "PUT",
          key: t.adminKey,
          json: {
            tenant: "acme",
            url: up.mcpUrl,
            credentials: {
              mode: "per-user-oauth",
              oauth: { clientId: up.clientId, scopes: "repo", revocationEndpoint: "http://127.0.0.1:9/revoke" },
            },
          },
        })
      ).status,
    ).toBe(200);
    await saveConnection(t.db.sql, await t.keyRing(), ALICE, "gh", {
      kind: "oauth",
      access: "stale-access",
      refresh: "stale-refresh",
      tokenEndpoint: `${up.issuer}/token`,
    });
    expect((await t.fetch("/auth/connections/gh", { method: "DELETE", key: alice })).status).toBe(204);
    expect(await storedTokens(ALICE, "gh")).toBeNull();
    const body = (await (await t.fetch("/admin/api/servers/gh", { key: t.adminKey })).json()) as {
      credentials: { oauth: Record<string, unknown> };
    };
    expect(body.credentials.oauth).toMatchObject({
      revocationEndpoint: "http://127.0.0.1:9/revoke",
      hasClientSecret: true,
    });
    // back to discovery
    expect(
      (
        await t.fetch("/admin/api/servers/gh", {
          method: "PUT",
          key: t.adminKey,
          json: {
            tenant: "acme",
            url: up.mcpUrl,
            credentials: { mode: "per-user-oauth", oauth: { clientId: up.clientId, scopes: "repo" } },
          },
        })
      ).status,
    ).toBe(200);
  });
});

describe("a per-user token server", () => {
  it("takes a pasted token, sends it only for its owner, and forgets it on disconnect", async () => {
    expect((await t.fetch("/auth/connections/tk", { method: "PUT", key: carol, json: {} })).status).toBe(400);
    expect((await t.fetch("/auth/connections/gh", { method: "PUT", key: carol, json: { token: "x" } })).status).toBe(
      409,
    );
    expect((await t.fetch("/auth/connections/nope", { method: "PUT", key: carol, json: { token: "x" } })).status).toBe(
      404,
    );
    expect(
      (await t.fetch("/auth/connections/tk", { method: "PUT", key: carol, json: { token: "pat-of-carol-123" } }))
        .status,
    ).toBe(204);
    const [row] = await t.db.sql`SELECT secrets FROM user_connections WHERE user_email = ${CAROL} AND server_id = 'tk'`;
    expect(JSON.stringify(row!.secrets)).not.toContain("pat-of-carol-123");

    expect(text((await legacyCall(carol, "/mcp/tk", "whoami")).result)).toBe("you are carol-pat");
    expect(text((await modernCall(carol, "/mcp", "tk__whoami")).result)).toBe("you are carol-pat");
    const bobs = await legacyCall(bob, "/mcp/tk", "whoami");
    expect(bobs.result.isError).toBe(true);
    expect(text(bobs.result)).toContain(`${t.url}/auth/connect/tk`);

    expect((await t.fetch("/auth/connections/tk", { method: "DELETE", key: carol })).status).toBe(204);
    const after = await legacyCall(carol, "/mcp/tk", "whoami");
    expect(after.result.isError).toBe(true);
    expect(text(after.result)).toContain(`${t.url}/auth/connect/tk`);
  });

  it("a token the upstream refuses gets the link to connect again", async () => {
    expect(
      (await t.fetch("/auth/connections/tk", { method: "PUT", key: carol, json: { token: "not-a-valid-pat" } })).status,
    ).toBe(204);
    const r = await legacyCall(carol, "/mcp/tk", "whoami");
    expect(r.result.isError).toBe(true);
    expect(text(r.result)).toContain(`${t.url}/auth/connect/tk`);
    expect(text(r.result)).not.toContain("not-a-valid-pat");
  });

  it("deleting the user deletes their connections", async () => {
    expect((await t.fetch(`/admin/api/users/${CAROL}`, { method: "DELETE", key: t.adminKey })).status).toBe(204);
    expect(await t.db.sql`SELECT 1 FROM user_connections WHERE user_email = ${CAROL}`).toHaveLength(0);
  });
});

describe("rotation", () => {
  it("re-seals users' tokens and OAuth client secrets under the new key; a token moved to another user's row does not open", async () => {
    const sql = t.db.sql;
    const old = await t.keyRing();
    await saveConnection(sql, old, BOB, "tk", { kind: "token", access: "bob-token-xyz" });
    const newKey = randomToken(40);
    const ring = await keyRing({ SECRETS_KEY: newKey, SECRETS_KEY_PREVIOUS: [t.workerEnv.SECRETS_KEY!] });
    const report = await resealSecrets(sql, ring);
    expect(report["user_connections.secrets"]).toMatchObject({ resealed: 1 });
    expect(report["servers.credentials"]).toMatchObject({ resealed: 1 });
    const newId = await keyId(newKey);
    const [row] = await sql`SELECT secrets FROM user_connections WHERE user_email = ${BOB} AND server_id = 'tk'`;
    expect(String(row!.secrets.access).startsWith(`mcpgw:v1:${newId}:`)).toBe(true);
    const alone = await keyRing({ SECRETS_KEY: newKey, SECRETS_KEY_PREVIOUS: [] });
    expect((await openConnectionSecrets(alone, BOB, "tk", row!.secrets)).access).toBe("bob-token-xyz");
    await expect(openConnectionSecrets(alone, ALICE, "tk", row!.secrets)).rejects.toThrow(/does not open/);
    const [srv] = await sql`SELECT credentials FROM servers WHERE id = 'gh'`;
    expect(await openClientSecret(alone, "gh", StoredCredentials.parse(srv!.credentials))).toBe(up.clientSecret);
  });
});
