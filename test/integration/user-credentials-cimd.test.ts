/**
 * Per-user OAuth with the gateway's Client ID Metadata Document (CIMD) as its client id (issue
 * 14): the upstream's authorization server (oidc-provider with `features.clientIdMetadataDocument`)
 * has no client registered for the gateway; it fetches `<PUBLIC_URL>/auth/oauth-client.json`,
 * takes the gateway as the public client described there (PKCE, no secret, the connect callback
 * as its one redirect URI) and issues tokens to it.
 *
 * A client id must be an https URL, so the gateway runs behind a TLS proxy here, as behind
 * Traefik in production: PUBLIC_URL is the proxy's https://localhost:<port>, with a certificate
 * made for the test (openssl) that Chromium is told to accept and the authorization server
 * trusts (test/harness/upstream-oauth.ts `cimd`).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { createServer as createHttpsServer, type Server } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client as LegacyClient } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as LegacyTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { decodeJwt } from "jose";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openConnectionSecrets } from "../../shared/repos/connections.repo";
import { freePort } from "../../scripts/lib/ports";
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
  "--ignore-certificate-errors",
];
const ALICE = "alice@acme.test";

let t: TestStack;
let up: OAuthUpstream;
let proxy: Server;
let browser: Browser | undefined;
let alice: string;
let publicUrl: string;
let dir: string;

/** A TLS proxy in front of the gateway (what Traefik is in production): Host and everything else passed on. */
async function startTlsProxy(port: number, cert: { key: string; cert: string }, target: () => URL): Promise<Server> {
  const server = createHttpsServer(cert, (req, res) => {
    const to = target();
    const out = httpRequest(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on("error", () => res.writeHead(502).end());
    req.pipe(out);
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));
  return server;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "mcpgw-cimd-"));
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
    ],
    { stdio: "ignore" },
  );
  const tls = { key: readFileSync(join(dir, "key.pem"), "utf8"), cert: readFileSync(join(dir, "cert.pem"), "utf8") };
  const tlsPort = await freePort();
  publicUrl = `https://localhost:${tlsPort}`;
  let gateway: URL | undefined;
  proxy = await startTlsProxy(tlsPort, tls, () => gateway!);
  t = await startTestStack({
    env: { PUBLIC_URL: publicUrl },
    idpUsers: [{ email: ALICE, name: "Alice", password: "alice-pw", groups: [] }],
  });
  gateway = new URL(t.url);
  up = await startOAuthUpstream({
    redirectUri: `${publicUrl}/auth/connect-callback`,
    users: { "alice-gh": "gh-pw" },
    cimd: { ca: tls.cert },
  });
  const admin = (path: string, json: unknown) => t.fetch(path, { method: "PUT", key: t.adminKey, json });
  expect((await admin("/admin/api/tenants/acme", { name: "Acme" })).status).toBe(201);
  expect((await admin("/admin/api/groups/acme-users", { tenants: ["acme"] })).status).toBe(201);
  alice = await t.userKey(ALICE, { groups: ["acme-users"] });
  // no client secret, no client registered at the authorization server: the document's URL is the client id
  const gh = await admin("/admin/api/servers/gh", {
    tenant: "acme",
    url: up.mcpUrl,
    credentials: { mode: "per-user-oauth", oauth: { clientId: `${publicUrl}/auth/oauth-client.json`, scopes: "repo" } },
  });
  expect(gh.status).toBe(201);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.stop();
  await up?.stop();
  proxy?.closeAllConnections();
  await new Promise<void>((r) => (proxy ? proxy.close(() => r()) : r()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("per-user OAuth with a client ID metadata document", () => {
  it("serves the gateway's document: a public client whose id is the document's URL", async () => {
    const res = await t.fetch("/auth/oauth-client.json");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      client_id: `${publicUrl}/auth/oauth-client.json`,
      client_name: "MCP gateway",
      redirect_uris: [`${publicUrl}/auth/connect-callback`],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    });
  });

  it(
    "Alice connects in the browser with that client id and reaches the upstream as herself",
    { timeout: 120_000 },
    async () => {
      browser = await launchChromium(ARGS);
      const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
      const p = await ctx.newPage();
      await p.goto(`${publicUrl}/auth/connect/gh`);
      await p.waitForSelector("form#login");
      await p.fill("input[name=email]", ALICE);
      await p.fill("input[name=password]", "alice-pw");
      await p.click("form#login button[type=submit]");
      await p.waitForSelector("#upstream-login", { timeout: 30_000 });
      expect(p.url().startsWith(`${up.issuer}/`)).toBe(true);
      await p.fill("#up-email", "alice-gh");
      await p.fill("#up-password", "gh-pw");
      await p.click("#up-submit");
      await p.waitForSelector("#connected", { timeout: 30_000 });
      await ctx.close();

      const [row] = await t.db
        .sql`SELECT secrets FROM user_connections WHERE user_email = ${ALICE} AND server_id = 'gh'`;
      expect(row).toBeDefined();
      const tokens = await openConnectionSecrets(
        await t.keyRing(),
        ALICE,
        "gh",
        row!.secrets as Record<string, string>,
      );
      // issued to the client the document describes
      expect(decodeJwt(tokens.access!).client_id).toBe(`${publicUrl}/auth/oauth-client.json`);
      expect(tokens.refresh).toBeTruthy();

      const client = new LegacyClient({ name: "owui-style", version: "1.0.0" });
      await client.connect(
        new LegacyTransport(new URL(`${t.url}/mcp/gh`), {
          requestInit: { headers: { Authorization: `Bearer ${alice}` } },
        }),
      );
      try {
        const r = (await client.callTool({ name: "whoami", arguments: {} })) as {
          content: { text: string }[];
          isError?: boolean;
        };
        expect(r.isError).toBeFalsy();
        expect(r.content[0]!.text).toBe("you are alice-gh");
      } finally {
        await client.close();
      }
      expect(up.seen.filter((s) => s.method === "tools/call").at(-1)).toEqual({
        method: "tools/call",
        authorization: `Bearer ${tokens.access}`,
        subject: "alice-gh",
      });
    },
  );

  it("refreshes as that public client (no secret) when the token is due", async () => {
    const [before] = await t.db
      .sql`SELECT secrets FROM user_connections WHERE user_email = ${ALICE} AND server_id = 'gh'`;
    const old = await openConnectionSecrets(await t.keyRing(), ALICE, "gh", before!.secrets as Record<string, string>);
    await t.db
      .sql`UPDATE user_connections SET expires_at = now() - interval '1 minute' WHERE user_email = ${ALICE} AND server_id = 'gh'`;
    const client = new LegacyClient({ name: "owui-style", version: "1.0.0" });
    await client.connect(
      new LegacyTransport(new URL(`${t.url}/mcp/gh`), {
        requestInit: { headers: { Authorization: `Bearer ${alice}` } },
      }),
    );
    try {
      const r = (await client.callTool({ name: "whoami", arguments: {} })) as { content: { text: string }[] };
      expect(r.content[0]!.text).toBe("you are alice-gh");
    } finally {
      await client.close();
    }
    const [after] = await t.db
      .sql`SELECT secrets, refreshed_at FROM user_connections WHERE user_email = ${ALICE} AND server_id = 'gh'`;
    const now = await openConnectionSecrets(await t.keyRing(), ALICE, "gh", after!.secrets as Record<string, string>);
    expect(now.access).not.toBe(old.access);
    expect(after!.refreshed_at).not.toBeNull();
    expect(decodeJwt(now.access!).client_id).toBe(`${publicUrl}/auth/oauth-client.json`);
  });
});
