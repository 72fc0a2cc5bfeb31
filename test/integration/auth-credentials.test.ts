/**
 * Every credential the forwardAuth step accepts, end to end (real workerd, Postgres and the local
 * oidc-provider), each accepted for the right user, on the right paths, and refused when bad:
 * API keys, IdP bearer JWTs (Open WebUI `system_oauth`, RFC 8707 audience; /admin has its own
 * audience), Open WebUI session tokens (secret key and introspection; /mcp only) and Open WebUI's
 * forwarded headers with the service key (/mcp only, never an admin).
 * The identity is read back from `GET /admin/api/whoami` (through the edge, which echoes the
 * signed assertion) and, for /mcp, from the forwardAuth answer itself: the assertion the auth
 * worker's ForwardAuth entrypoint signs for `X-Forwarded-Uri: /mcp` (what the edge and Traefik get),
 * with an MCP request through the edge as the end-to-end check.
 */
import { createServer, type Server } from "node:http";
import { createHash, randomBytes } from "node:crypto";
import { SignJWT, importJWK, generateKeyPair, base64url } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestStack, type TestStack } from "../harness/stack";
import { CookieJar, step } from "../harness/login";
import { GATEWAY_CLIENT_ID, OPEN_WEBUI_CLIENT_ID, OPEN_WEBUI_DEMO_SECRET } from "../../scripts/lib/oidc";
import { verifyAssertion, type Identity } from "../../shared/identity";

const WEBUI_SECRET_KEY = "owui-secret-key-for-tests-0123456789";
const SERVICE_KEY = `svc_${randomBytes(24).toString("hex")}`;

// A real HTTP server standing in for Open WebUI, which cannot run here (no Python, no image):
// answers GET /api/v1/auths/ like Open WebUI's get_session_user (SessionUserResponse: id, email,
// name, role - `pending` until an admin approves the account -, profile_image_url, token fields)
// for a token it issued, 401 {"detail": ...} otherwise.
const owuiUsers = new Map<string, { id: string; email: string; name: string; role: string; is_active?: boolean }>();
let owui: Server;
let owuiUrl = "";
let owuiCalls = 0;

let t: TestStack;

async function whoami(init: { key?: string; headers?: Record<string, string> } = {}) {
  const res = await t.fetch("/admin/api/whoami", {
    key: init.key,
    headers: { accept: "application/json", ...init.headers },
  });
  return {
    status: res.status,
    body: (await res.json().catch(() => null)) as Record<string, unknown> | null,
    headers: res.headers,
  };
}

/**
 * The forwardAuth answer for a request to `uri` (default /mcp) with these credentials, as the edge
 * and Traefik get it from the auth worker's ForwardAuth entrypoint; `body` is the identity its
 * signed assertion carries (null without one).
 */
async function verifyFor(init: { key?: string; headers?: Record<string, string> } = {}, uri = "/mcp") {
  const headers: Record<string, string> = {
    "x-forwarded-method": "POST",
    "x-forwarded-proto": "http",
    "x-forwarded-host": new URL(t.url).host,
    "x-forwarded-uri": uri,
    accept: "application/json, text/event-stream",
    ...init.headers,
  };
  if (init.key) headers.authorization = `Bearer ${init.key}`;
  const res = await fetch(`${t.forwardAuthUrl}/auth/verify`, { headers });
  const identity: Identity | null = await verifyAssertion(
    res.headers.get("x-identity-assertion"),
    t.workerEnv.IDENTITY_SECRET!,
  );
  return {
    status: res.status,
    body: identity as Record<string, unknown> | null,
    error: res.status === 200 ? null : ((await res.json().catch(() => null)) as Record<string, unknown> | null),
    headers: res.headers,
  };
}

/** An MCP initialize through the edge: its HTTP status (200 once the credential is accepted for /mcp). */
async function mcpStatus(init: { key?: string; headers?: Record<string, string> } = {}): Promise<number> {
  const res = await t.fetch("/mcp", {
    method: "POST",
    key: init.key,
    headers: { accept: "application/json, text/event-stream", ...init.headers },
    json: {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: "2025-06-18",
        capabilities: {},
        clientInfo: { name: "auth-credentials", version: "1" },
      },
    },
  });
  await res.body?.cancel();
  return res.status;
}

/** An access token from the local IdP for the Open WebUI client, through its real login and token endpoint. */
async function idpTokens(
  email: string,
  password: string,
  params: Record<string, string> = {},
  client = { id: OPEN_WEBUI_CLIENT_ID, secret: OPEN_WEBUI_DEMO_SECRET, redirectUri: "http://localhost/callback" },
) {
  const redirectUri = client.redirectUri;
  const verifier = base64url.encode(randomBytes(32));
  const challenge = base64url.encode(createHash("sha256").update(verifier).digest());
  const auth = new URL(`${t.idp!.issuer}/auth`);
  for (const [k, v] of Object.entries({
    client_id: client.id,
    response_type: "code",
    redirect_uri: redirectUri,
    scope: "openid email profile",
    state: "s".repeat(20),
    nonce: "n".repeat(20),
    code_challenge: challenge,
    code_challenge_method: "S256",
    ...params,
  }))
    auth.searchParams.set(k, v);
  const jar = new CookieJar();
  let url = auth.toString();
  let init: RequestInit = {};
  let code: string | null = null;
  for (let i = 0; i < 20 && !code; i++) {
    const res = await step(jar, url, init);
    init = {};
    const loc = res.headers.get("location");
    if (loc?.startsWith(redirectUri)) code = new URL(loc).searchParams.get("code");
    else if (loc) url = new URL(loc, url).toString();
    else {
      const form = (await res.text()).match(/action="([^"]+\/login)"/);
      if (!form) throw new Error(`IdP login stopped with ${res.status}`);
      url = new URL(form[1]!, url).toString();
      init = {
        method: "POST",
        body: new URLSearchParams({ email, password }).toString(),
        headers: { "content-type": "application/x-www-form-urlencoded" },
      };
    }
  }
  const res = await fetch(`${t.idp!.issuer}/token`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString("base64")}`,
    },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: code!,
      redirect_uri: redirectUri,
      code_verifier: verifier,
    }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { access_token: string; id_token: string };
}

/** A token signed with the IdP's real key, with chosen claims. */
async function idpSigned(claims: Record<string, unknown>, opts: { exp?: number } = {}) {
  const jwk = t.idp!.signingKey;
  const key = await importJWK(jwk as any, "RS256");
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ email: "admin@localhost", email_verified: true, ...claims })
    .setProtectedHeader({ alg: "RS256", kid: String(jwk.kid) })
    .setIssuer(t.idp!.issuer)
    .setSubject("admin@localhost")
    .setIssuedAt(now - 10)
    .setExpirationTime(opts.exp ?? now + 300)
    .sign(key);
}

function owuiToken(id: string, secret = WEBUI_SECRET_KEY) {
  return new SignJWT({ id })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode(secret));
}

beforeAll(async () => {
  owui = createServer((req, res) => {
    owuiCalls++;
    const token = req.headers.authorization?.replace(/^Bearer /, "") ?? "";
    const user = req.url === "/api/v1/auths/" ? owuiUsers.get(token) : undefined;
    res.writeHead(user ? 200 : 401, { "content-type": "application/json" });
    res.end(
      JSON.stringify(user ? { ...user, token_type: "Bearer", profile_image_url: "" } : { detail: "Not authenticated" }),
    );
  });
  await new Promise<void>((r) => owui.listen(0, "127.0.0.1", () => r()));
  owuiUrl = `http://127.0.0.1:${(owui.address() as { port: number }).port}`;
  t = await startTestStack({
    forwardAuthPort: 0,
    env: { OWUI_URL: owuiUrl, WEBUI_SECRET_KEY, OWUI_FORWARDED_HEADERS: "1", OWUI_SERVICE_KEY: SERVICE_KEY },
  });
  await t.userKey("joelalama@google.com", { groups: ["google-users"] });
  await t.userKey("admin@localhost", { admin: true });
});
afterAll(async () => {
  await t?.stop();
  await new Promise((r) => owui?.close(r));
});

describe("API keys", () => {
  it("identify their owner, and client-sent identity headers change nothing", async () => {
    const key = await t.userKey("miketest@microsoft.com", { groups: ["microsoft-users"] });
    const forged = {
      "X-User-Email": "admin@localhost",
      "X-User-Admin": "true",
      "X-User-Groups": "mcp-admin",
      X_User_Email: "admin@localhost",
      x_user_admin: "true",
      "x-USER-groups": "mcp-admin",
      "X-Identity-Assertion": "forged.jwt.value",
    };
    const r = await whoami({ key, headers: forged });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      email: "miketest@microsoft.com",
      groups: ["microsoft-users"],
      admin: false,
      via: "apikey",
    });
  });

  it("identity headers without any credential get 401", async () => {
    for (const name of ["X-User-Email", "x_user_email", "X-USER-EMAIL"]) {
      const r = await whoami({ headers: { [name]: "admin@localhost", "X-User-Admin": "true" } });
      expect(r.status, name).toBe(401);
    }
  });

  it("a revoked key is refused", async () => {
    const key = await t.userKey("revoked@example.com");
    expect((await whoami({ key })).status).toBe(200);
    await t.db.sql`UPDATE api_keys SET revoked_at = now() WHERE user_email = 'revoked@example.com'`;
    const r = await whoami({ key });
    expect(r.status).toBe(401);
    expect(r.headers.get("www-authenticate")).toContain('error="invalid_token"');
  });

  it("a deleted key is refused", async () => {
    const key = await t.userKey("deleted@example.com");
    expect((await whoami({ key })).status).toBe(200);
    await t.db.sql`DELETE FROM api_keys WHERE user_email = 'deleted@example.com'`;
    expect((await whoami({ key })).status).toBe(401);
  });
});

describe("IdP bearer tokens (Open WebUI system_oauth, OAuth 2.1 clients)", () => {
  it("an access token for the MCP resource identifies the user on /mcp, with the IdP's groups", async () => {
    const { access_token } = await idpTokens("admin@localhost", "admin");
    const r = await verifyFor({ key: access_token });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ email: "admin@localhost", admin: true, via: "oidc-bearer" });
    expect(r.body!.groups).toContain("mcp-admin");
    expect(await mcpStatus({ key: access_token })).toBe(200);
  });

  // OAuth 2.1 clients (pre-registered public client, no dynamic registration): test/integration/local-idp.test.ts

  it("refuses a token for another resource (signed with the IdP's real key)", async () => {
    const other = await idpSigned({ aud: `${t.url}/elsewhere` });
    expect((await verifyFor({ key: other })).status).toBe(401);
  });

  it("creates a user it has not seen, without privileges", async () => {
    const { access_token } = await idpTokens("miketest@microsoft.com", "demo");
    await t.db.sql`DELETE FROM users WHERE email = 'miketest@microsoft.com'`;
    const r = await verifyFor({ key: access_token });
    expect(r.body).toMatchObject({ email: "miketest@microsoft.com", groups: ["microsoft-users"], admin: false });
  });

  it("a token for another audience is refused (the other client's ID token)", async () => {
    const { id_token } = await idpTokens("admin@localhost", "admin");
    expect((await verifyFor({ key: id_token })).status).toBe(401);
  });

  it("a token signed with the IdP's key for the gateway's audience is accepted (control)", async () => {
    expect((await verifyFor({ key: await idpSigned({ aud: `${t.url}/mcp` }) })).status).toBe(200);
    expect(await mcpStatus({ key: await idpSigned({ aud: `${t.url}/mcp` }) })).toBe(200);
  });

  it("an expired token is refused", async () => {
    const now = Math.floor(Date.now() / 1000);
    expect((await verifyFor({ key: await idpSigned({ aud: `${t.url}/mcp` }, { exp: now - 120 }) })).status).toBe(401);
  });

  it("a wrong-audience token is refused", async () => {
    expect((await verifyFor({ key: await idpSigned({ aud: "https://other.example/mcp" }) })).status).toBe(401);
  });

  it("a forged token (another key, same kid and issuer) is refused", async () => {
    const { privateKey } = await generateKeyPair("RS256");
    const now = Math.floor(Date.now() / 1000);
    const forged = await new SignJWT({ email: "admin@localhost", email_verified: true, aud: `${t.url}/mcp` })
      .setProtectedHeader({ alg: "RS256", kid: String(t.idp!.signingKey.kid) })
      .setIssuer(t.idp!.issuer)
      .setSubject("admin@localhost")
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(privateKey);
    expect((await verifyFor({ key: forged })).status).toBe(401);
  });

  it("an alg:none token is refused", async () => {
    const now = Math.floor(Date.now() / 1000);
    const enc = (o: object) => base64url.encode(JSON.stringify(o));
    const none = `${enc({ alg: "none", typ: "JWT" })}.${enc({ iss: t.idp!.issuer, sub: "admin@localhost", email: "admin@localhost", email_verified: true, aud: `${t.url}/mcp`, exp: now + 300 })}.`;
    expect((await verifyFor({ key: none })).status).toBe(401);
  });
});

describe("audiences: the resource only, and /admin its own", () => {
  it("the gateway's own ID token (aud = its client id) is not a bearer token", async () => {
    const idToken = await idpSigned({ aud: GATEWAY_CLIENT_ID, azp: GATEWAY_CLIENT_ID });
    expect((await verifyFor({ key: idToken })).status).toBe(401);
    expect(await mcpStatus({ key: idToken })).toBe(401);
    expect((await whoami({ key: idToken })).status).toBe(401);
  });

  it("a token the local IdP issued for /mcp is no admin credential", async () => {
    const { access_token } = await idpTokens("admin@localhost", "admin");
    expect(await mcpStatus({ key: access_token })).toBe(200);
    const r = await whoami({ key: access_token });
    expect(r.status).toBe(401);
    expect(r.headers.get("www-authenticate")).toContain('error="invalid_token"');
    expect((await t.fetch("/admin/api/tenants", { key: access_token })).status).toBe(401);
    // nor through a spelling that starts like /mcp (the one normalised path decides)
    expect((await verifyFor({ key: access_token }, "/mcp/%2e%2e/admin/api/whoami")).status).toBe(401);
  });

  it("a token for <PUBLIC_URL>/admin works on /admin and not on /mcp", async () => {
    const adminToken = await idpSigned({ aud: `${t.url}/admin` });
    const r = await whoami({ key: adminToken });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ email: "admin@localhost", admin: true, via: "oidc-bearer" });
    expect(await mcpStatus({ key: adminToken })).toBe(401);
  });
});

describe("the IdP's e-mail counts only when verified (OIDC_REQUIRE_EMAIL_VERIFIED, default 1)", () => {
  it.each([
    ["email_verified false", { email_verified: false }],
    ["no email_verified", { email_verified: undefined }],
    ['email_verified "false"', { email_verified: "false" }],
    ["only preferred_username", { email: undefined, email_verified: true, preferred_username: "admin@localhost" }],
    ["only upn", { email: undefined, email_verified: true, upn: "admin@localhost" }],
  ])("%s: refused (it could name an existing user)", async (_label, claims) => {
    expect((await verifyFor({ key: await idpSigned({ aud: `${t.url}/mcp`, ...claims }) })).status).toBe(401);
    expect((await whoami({ key: await idpSigned({ aud: `${t.url}/admin`, ...claims }) })).status).toBe(401);
  });

  it("a verified e-mail is accepted (control)", async () => {
    expect(
      (await verifyFor({ key: await idpSigned({ aud: `${t.url}/mcp`, email_verified: true }) })).body,
    ).toMatchObject({ email: "admin@localhost" });
  });
});

describe("Open WebUI session tokens (/mcp only)", () => {
  it("a token signed with WEBUI_SECRET_KEY is mapped to Open WebUI's email", async () => {
    const token = await owuiToken("owui-user-1");
    owuiUsers.set(token, { id: "owui-user-1", email: "JoeLalama@google.com", name: "Joe", role: "user" });
    const r = await verifyFor({ key: token });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      email: "joelalama@google.com",
      groups: ["google-users"],
      admin: false,
      via: "owui-session",
    });
    expect(await mcpStatus({ key: token })).toBe(200);
  });

  it("is no credential for /admin", async () => {
    const token = await owuiToken("owui-admin-1");
    owuiUsers.set(token, { id: "owui-admin-1", email: "admin@localhost", name: "Admin", role: "admin" });
    expect((await verifyFor({ key: token })).body).toMatchObject({ email: "admin@localhost" });
    expect((await whoami({ key: token })).status).toBe(401);
  });

  it.each([
    ["a pending account (awaiting approval)", { role: "pending" }],
    ["an unknown role", { role: "guest" }],
    ["an account marked inactive", { role: "user", is_active: false }],
    ["an answer for another user id than the token's", { role: "user", id: "someone-else" }],
  ])("%s is refused", async (_label, over) => {
    const id = `owui-${randomBytes(4).toString("hex")}`;
    const token = await owuiToken(id);
    owuiUsers.set(token, Object.assign({ id, email: "joelalama@google.com", name: "Joe", role: "user" }, over));
    expect((await verifyFor({ key: token })).status).toBe(401);
    expect(await mcpStatus({ key: token })).toBe(401);
  });

  it("introspection answers are cached briefly", async () => {
    const token = await owuiToken("owui-user-cache");
    owuiUsers.set(token, { id: "owui-user-cache", email: "joelalama@google.com", name: "Joe", role: "user" });
    expect((await verifyFor({ key: token })).status).toBe(200);
    const calls = owuiCalls;
    expect((await verifyFor({ key: token })).status).toBe(200);
    expect(owuiCalls).toBe(calls);
  });

  it("a token signed with another key is refused without asking Open WebUI", async () => {
    const token = await owuiToken("owui-user-1", "not-the-secret-key-0123456789abcdef");
    owuiUsers.set(token, { id: "owui-user-1", email: "admin@localhost", name: "x", role: "admin" });
    const calls = owuiCalls;
    expect((await verifyFor({ key: token })).status).toBe(401);
    expect(owuiCalls).toBe(calls);
  });

  it("a well-signed token Open WebUI does not know (signed out) is refused", async () => {
    expect((await verifyFor({ key: await owuiToken("gone") })).status).toBe(401);
  });
});

describe("Open WebUI forwarded headers (/mcp only, never an admin)", () => {
  it("are trusted with the service key on /mcp; a forwarded role grants nothing", async () => {
    const r = await verifyFor({
      key: SERVICE_KEY,
      headers: {
        "X-OpenWebUI-User-Email": "joelalama@google.com",
        "X-OpenWebUI-User-Name": "Joe",
        "X-OpenWebUI-User-Role": "admin",
      },
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ email: "joelalama@google.com", admin: false, via: "owui-headers" });
    expect(await mcpStatus({ key: SERVICE_KEY, headers: { "X-OpenWebUI-User-Email": "joelalama@google.com" } })).toBe(
      200,
    );
  });

  it("are no credential for /admin, for anyone", async () => {
    for (const email of ["joelalama@google.com", "admin@localhost"]) {
      expect((await whoami({ key: SERVICE_KEY, headers: { "X-OpenWebUI-User-Email": email } })).status, email).toBe(
        401,
      );
      expect(
        (await t.fetch("/admin/api/users", { key: SERVICE_KEY, headers: { "X-OpenWebUI-User-Email": email } })).status,
        email,
      ).toBe(401);
    }
  });

  it("cannot act for an admin, even on /mcp: 403 naming why", async () => {
    const r = await verifyFor({ key: SERVICE_KEY, headers: { "X-OpenWebUI-User-Email": "admin@localhost" } });
    expect(r.status).toBe(403);
    expect(r.error).toMatchObject({ jsonrpc: "2.0", error: { data: { error: "forbidden" } } });
    expect(JSON.stringify(r.error)).toContain("cannot act for an administrator");
    expect(r.headers.get("x-identity-assertion")).toBeNull();
    expect(await mcpStatus({ key: SERVICE_KEY, headers: { "X-OpenWebUI-User-Email": "admin@localhost" } })).toBe(403);
    // a member of mcp-admin is an admin too
    await t.userKey("groupadmin@example.com", { groups: ["mcp-admin"] });
    expect(
      (await verifyFor({ key: SERVICE_KEY, headers: { "X-OpenWebUI-User-Email": "groupadmin@example.com" } })).status,
    ).toBe(403);
  });

  it("are refused without the service key", async () => {
    const key = await t.userKey("miketest@microsoft.com", { groups: ["microsoft-users"] });
    const r = await verifyFor({ key, headers: { "X-OpenWebUI-User-Email": "admin@localhost" } });
    expect(r.body).toMatchObject({ email: "miketest@microsoft.com" });
    expect(
      (
        await verifyFor({
          key: "wrong-service-key-0123456789abcdef",
          headers: { "X-OpenWebUI-User-Email": "joelalama@google.com" },
        })
      ).status,
    ).toBe(401);
    expect((await verifyFor({ headers: { "X-OpenWebUI-User-Email": "joelalama@google.com" } })).status).toBe(401);
  });

  it("the service key alone identifies nobody", async () => {
    expect((await verifyFor({ key: SERVICE_KEY })).status).toBe(401);
  });
});

describe("defaults", () => {
  it("forwarded headers are off unless OWUI_FORWARDED_HEADERS=1; Open WebUI tokens are introspected when no secret key is set", async () => {
    delete t.workerEnv.OWUI_FORWARDED_HEADERS;
    delete t.workerEnv.OWUI_SERVICE_KEY; // set alone it would stop the start (it would do nothing)
    delete t.workerEnv.WEBUI_SECRET_KEY;
    await t.restartWorkerd();
    const r = await verifyFor({ key: SERVICE_KEY, headers: { "X-OpenWebUI-User-Email": "joelalama@google.com" } });
    expect(r.status).toBe(401);
    // introspection only: any HS256 token Open WebUI vouches for
    const token = await owuiToken("owui-user-2", "open-webui-own-secret-we-do-not-know");
    owuiUsers.set(token, { id: "owui-user-2", email: "miketest@microsoft.com", name: "Mike", role: "user" });
    expect((await verifyFor({ key: token })).body).toMatchObject({
      email: "miketest@microsoft.com",
      via: "owui-session",
    });
    expect((await verifyFor({ key: await owuiToken("unknown", "open-webui-own-secret-we-do-not-know") })).status).toBe(
      401,
    );
  });

  it("OIDC_REQUIRE_EMAIL_VERIFIED=0 (an IdP without email_verified, e.g. Entra ID) takes email, else preferred_username or upn", async () => {
    const entraLike = await idpSigned({
      aud: `${t.url}/mcp`,
      email: undefined,
      email_verified: undefined,
      preferred_username: "JoeLalama@google.com",
    });
    expect((await verifyFor({ key: entraLike })).status).toBe(401);
    t.workerEnv.OIDC_REQUIRE_EMAIL_VERIFIED = "0";
    await t.restartWorkerd();
    expect((await verifyFor({ key: entraLike })).body).toMatchObject({
      email: "joelalama@google.com",
      via: "oidc-bearer",
    });
    delete t.workerEnv.OIDC_REQUIRE_EMAIL_VERIFIED;
    await t.restartWorkerd();
    expect((await verifyFor({ key: entraLike })).status).toBe(401);
  });

  it("an unreachable identity provider gives 503 for its tokens, while API keys keep working", async () => {
    const token = await idpSigned({ aud: `${t.url}/mcp` });
    await t.idp!.stop();
    await t.restartWorkerd(); // forget the cached discovery document
    const r = await verifyFor({ key: token });
    expect(r.status).toBe(503);
    expect(r.error).toMatchObject({ error: "idp_unreachable" });
    expect((await whoami({ key: t.adminKey })).status).toBe(200);
  });
});
