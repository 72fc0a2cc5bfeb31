// Which credential is who (workers/auth/src/credentials.ts), decision by decision, in Node against
// real Postgres (a scratch database, the auth worker's own operations), a real OIDC provider
// surface (discovery and JWKS served over HTTP, tokens signed with jose) and an HTTP stand-in for
// Open WebUI's `GET /api/v1/auths/` (Open WebUI itself cannot run here). Part of the set
// StrykerJS mutates against (vitest.mutation.config.ts); the same paths through workerd are in
// auth-credentials.test.ts and local-idp.test.ts.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { createSql, type Sql } from "../../shared/db";
import { createScratchDatabase, type ScratchDatabase } from "../../scripts/lib/database";
import { migrate } from "../../scripts/lib/migrate";
import { generateApiKey, insertApiKey } from "../../shared/repos/apikeys.repo";
import { sha256Hex } from "../../shared/crypto";
import { authOps, type AuthDb } from "../../workers/auth/src/db";
import { sqlCounterStore } from "../../shared/middleware/rate-limit";
import { AuthEnv } from "../../workers/auth/src/env";
import {
  CredentialRefused,
  acceptedAudiences,
  activeOpenWebUIUser,
  bearerToken,
  identifyBearer,
  identifySession,
  introspectOpenWebUI,
  toIdentity,
} from "../../workers/auth/src/credentials";

const ORIGIN = "https://gw.example.com";
const SERVICE_KEY = "owui-service-key-0123456789abcdef";
const WEBUI_SECRET = "webui-secret-key-0123456789abcdef";

let scratch: ScratchDatabase;
let sql: Sql;
let db: AuthDb;
let idp: Server;
let issuer: string;
let owui: Server;
let owuiUrl: string;
let signKey: CryptoKey;
/** What the Open WebUI stand-in answers, by bearer token; and the requests it saw. */
const owuiAnswers = new Map<string, { status: number; body: unknown }>();
const owuiSeen: { path: string; authorization: string | undefined; accept: string | undefined }[] = [];
const waits: Promise<unknown>[] = [];
/** The auth operations run, in order (to see what the identity cache saved). */
const calls: string[] = [];
const ran = (op: string, from: number) => calls.slice(from).filter((c) => c === op).length;
const ctx = { waitUntil: (p: Promise<unknown>) => void waits.push(p) };

/** A database kept between runs (created when missing, never dropped). */
async function namedDatabase(serverUrl: string, name: string): Promise<ScratchDatabase> {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error("CREDENTIALS_TEST_DATABASE must be a plain lower-case name");
  const url = new URL(serverUrl);
  url.pathname = "/postgres";
  const admin = createSql(url.toString());
  try {
    const [row] = await admin`SELECT 1 AS ok FROM pg_database WHERE datname = ${name}`;
    if (!row) await admin.unsafe(`CREATE DATABASE ${name}`).catch(() => {}); // a parallel run may have created it
  } finally {
    await admin.end({ timeout: 2 });
  }
  url.pathname = `/${name}`;
  return { name, url: url.toString(), drop: async () => {} };
}

const listen = (s: Server) =>
  new Promise<string>((r) =>
    s.listen(0, "127.0.0.1", () => r(`http://127.0.0.1:${(s.address() as AddressInfo).port}`)),
  );

beforeAll(async () => {
  // the integration run provides its Postgres; the mutation run (no global setup) needs DATABASE_URL
  const server = inject("databaseUrl") ?? process.env.DATABASE_URL;
  if (!server)
    throw new Error(
      "set DATABASE_URL to a Postgres server (npm run test:mutation needs one; e.g. postgres://postgres@127.0.0.1:5432/postgres)",
    );
  // the mutation run re-runs this file for each mutant: it keeps one database (CREDENTIALS_TEST_DATABASE,
  // set by vitest.mutation.config.ts) across runs instead of creating and dropping one each time
  const reuse = process.env.CREDENTIALS_TEST_DATABASE;
  scratch = reuse ? await namedDatabase(server, reuse) : await createScratchDatabase(server, "gwcred");
  sql = createSql(scratch.url, { max: 2 });
  await migrate(sql);
  db = {
    run: ((op: keyof typeof authOps, ...args: unknown[]) => {
      calls.push(op);
      return (authOps[op] as (s: Sql, ...a: unknown[]) => Promise<unknown>)(sql, ...args);
    }) as AuthDb["run"],
  };
  const pair = await generateKeyPair("ES256");
  signKey = pair.privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256", use: "sig" };
  idp = createServer((req, res) => {
    res.setHeader("content-type", "application/json");
    if (req.url === "/.well-known/openid-configuration") {
      res.end(
        JSON.stringify({
          issuer,
          authorization_endpoint: `${issuer}/auth`,
          token_endpoint: `${issuer}/token`,
          jwks_uri: `${issuer}/jwks`,
        }),
      );
    } else if (req.url === "/jwks") res.end(JSON.stringify({ keys: [jwk] }));
    else res.writeHead(404).end("{}");
  });
  issuer = await listen(idp);
  owui = createServer((req, res) => {
    owuiSeen.push({ path: req.url ?? "", authorization: req.headers.authorization, accept: req.headers.accept });
    const a = owuiAnswers.get((req.headers.authorization ?? "").replace(/^Bearer /, ""));
    if (a?.status === 0) return void req.socket.destroy(); // Open WebUI unreachable mid-request
    res
      .writeHead(a?.status ?? 401, { "content-type": "application/json" })
      .end(JSON.stringify(a?.body ?? { detail: "unauthorized" }));
  });
  owuiUrl = await listen(owui);
  await sql`INSERT INTO groups (name) VALUES ('devs'), ('ops') ON CONFLICT DO NOTHING`;
});

afterAll(async () => {
  await Promise.allSettled(waits);
  idp?.close();
  owui?.close();
  await sql?.end({ timeout: 2 });
  await scratch?.drop();
});

const envOf = (extra: Record<string, string> = {}) =>
  AuthEnv.parse({
    DATABASE_URL: scratch.url,
    IDENTITY_SECRET: "unit-test-identity-secret-0123456789abcdef",
    PUBLIC_URL: ORIGIN,
    IDENTITY_VERSION_TTL_MS: "0",
    SECRETS_KEY: "unit-test-secrets-key-0123456789abcdefgh",
    ...extra,
  });
const oidcEnv = (extra: Record<string, string> = {}) =>
  envOf({ OIDC_ISSUER: issuer, OIDC_CLIENT_ID: "gw-client", ...extra });
const owuiEnv = (extra: Record<string, string> = {}) => envOf({ OWUI_URL: owuiUrl, ...extra });
const fwdEnv = () => envOf({ OWUI_FORWARDED_HEADERS: "1", OWUI_SERVICE_KEY: SERVICE_KEY });
const identify = (env: AuthEnv, token: string, path = "/mcp", headers: Record<string, string> = {}) =>
  identifyBearer(env, db, ctx, token, new Headers(headers), ORIGIN, path);

let n = 0;
const run = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const uniqId = () => `${run}${n++}`;
const uniq = (p: string) => `${p}-${uniqId()}@example.com`;
async function user(email: string, opts: { admin?: boolean; groups?: string[] } = {}) {
  await sql`INSERT INTO users (email, is_admin) VALUES (${email}, ${opts.admin ?? false}) ON CONFLICT DO NOTHING`;
  for (const g of opts.groups ?? [])
    await sql`INSERT INTO user_group_membership (user_email, group_name) VALUES (${email}, ${g}) ON CONFLICT DO NOTHING`;
}
async function apiKey(email: string, opts: { expiresAt?: Date } = {}) {
  const k = await generateApiKey();
  await insertApiKey(sql, email, "k", k, opts.expiresAt ?? null);
  return k;
}
function idpToken(
  claims: Record<string, unknown>,
  opts: { aud?: string | string[]; iss?: string; exp?: number; alg?: string } = {},
) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ email_verified: true, ...claims })
    .setProtectedHeader({ alg: opts.alg ?? "ES256", kid: "k1" })
    .setIssuer(opts.iss ?? issuer)
    .setAudience(opts.aud ?? `${ORIGIN}/mcp`)
    .setSubject(String(claims.sub ?? "sub-1"))
    .setIssuedAt(now)
    .setExpirationTime(opts.exp ?? now + 300)
    .sign(signKey);
}
const owuiToken = (id: string, secret = WEBUI_SECRET, claims: Record<string, unknown> = {}) =>
  new SignJWT({ id, ...claims })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .sign(new TextEncoder().encode(secret));

describe("toIdentity", () => {
  it("merges Postgres and IdP groups (lower case, once, sorted); admin by flag or mcp-admin from either side", () => {
    const facts = { email: "a@x", displayName: "", isAdmin: false, groups: ["ops", "devs"], idpGroups: [] };
    expect(toIdentity(facts, ["Devs", "QA"], "oidc-bearer")).toEqual({
      email: "a@x",
      groups: ["devs", "ops", "qa"],
      admin: false,
      via: "oidc-bearer",
    });
    expect(toIdentity(facts, ["MCP-Admin"], "oidc-bearer").admin).toBe(true);
    expect(toIdentity({ ...facts, groups: ["mcp-admin"] }, [], "apikey").admin).toBe(true);
    expect(toIdentity({ ...facts, isAdmin: true }, [], "apikey").admin).toBe(true);
    expect(toIdentity({ ...facts, groups: [] }, [], "session")).toEqual({
      email: "a@x",
      groups: [],
      admin: false,
      via: "session",
    });
  });
});

describe("bearerToken", () => {
  const h = (v?: string) => new Headers(v === undefined ? {} : { authorization: v });
  it("takes the token after Bearer (any case, spaces or tabs), keeping inner spaces and trimming the end", () => {
    expect(bearerToken(h("Bearer abc"))).toBe("abc");
    expect(bearerToken(h("bearer abc"))).toBe("abc");
    expect(bearerToken(h("BEARER\tabc"))).toBe("abc");
    expect(bearerToken(h("Bearer   my operator key  \t"))).toBe("my operator key");
    expect(bearerToken(h("Bearer x"))).toBe("x");
  });
  it("refuses anything else", () => {
    for (const v of [
      undefined,
      "",
      "Bearer",
      "Bearer ",
      "Bearer  \t ",
      "Basic abc",
      "Bearerabc",
      "xBearer abc",
      "Token abc",
    ])
      expect(bearerToken(h(v))).toBeNull();
  });
});

describe("acceptedAudiences", () => {
  it("on /admin only the admin audience; elsewhere the MCP resource, the server's on its path, and OIDC_AUDIENCE", () => {
    const env = oidcEnv();
    expect(acceptedAudiences(env, ORIGIN, "/admin/api/users")).toEqual([`${ORIGIN}/admin`]);
    expect(acceptedAudiences(env, ORIGIN, "/admin")).toEqual([`${ORIGIN}/admin`]);
    expect(acceptedAudiences(oidcEnv({ OIDC_ADMIN_AUDIENCE: "adm1, adm2" }), ORIGIN, "/admin/x")).toEqual([
      "adm1",
      "adm2",
    ]);
    expect(acceptedAudiences(env, ORIGIN, "/mcp")).toEqual([`${ORIGIN}/mcp`]);
    expect(acceptedAudiences(env, ORIGIN, "/mcp/files")).toEqual([`${ORIGIN}/mcp`, `${ORIGIN}/mcp/files`]);
    expect(acceptedAudiences(env, ORIGIN, "/mcpx")).toEqual([`${ORIGIN}/mcp`]);
    expect(acceptedAudiences(oidcEnv({ OIDC_AUDIENCE: "extra, " + `${ORIGIN}/mcp` }), ORIGIN, "/mcp")).toEqual([
      `${ORIGIN}/mcp`,
      "extra",
    ]);
  });
});

describe("activeOpenWebUIUser", () => {
  const ok = { id: "u1", email: "Pat@Example.com", name: "Pat", role: "user" };
  it("takes an active user or admin naming the token's id, e-mail in lower case", () => {
    expect(activeOpenWebUIUser(ok, "u1")).toEqual({ email: "pat@example.com", name: "Pat" });
    expect(activeOpenWebUIUser({ ...ok, role: "admin" }, "u1")).toEqual({ email: "pat@example.com", name: "Pat" });
    expect(activeOpenWebUIUser({ ...ok, id: undefined }, "u1")).toEqual({ email: "pat@example.com", name: "Pat" });
    expect(activeOpenWebUIUser({ ...ok, name: 7 }, "u1")).toEqual({ email: "pat@example.com", name: "" });
    expect(activeOpenWebUIUser({ ...ok, is_active: true, active: true }, "u1")).not.toBeNull();
    expect(activeOpenWebUIUser({ ...ok, email: `${"a".repeat(242)}@example.com` }, "u1")).not.toBeNull(); // 254 characters
  });
  it("refuses pending, inactive, other ids, missing or malformed e-mails and non-objects", () => {
    for (const b of [
      null,
      "x",
      42,
      { ...ok, role: "pending" },
      { ...ok, role: undefined },
      { ...ok, is_active: false },
      { ...ok, active: false },
      { ...ok, id: "u2" },
      { ...ok, email: undefined },
      { ...ok, email: 7 },
      { ...ok, email: ["x@example.com"] },
      { ...ok, email: "no-at-sign" },
      { ...ok, email: "a b@x.y" },
      { ...ok, email: "a@b,c@d" },
      { ...ok, email: "x@example.com\nmore" },
      { ...ok, email: "@x" },
      { ...ok, email: "x@" },
      { ...ok, email: `${"a".repeat(243)}@example.com` },
    ])
      expect(activeOpenWebUIUser(b, "u1")).toBeNull();
  });
});

describe("introspectOpenWebUI", () => {
  it("asks <OWUI_URL>/api/v1/auths/ with the token, and remembers the answer", async () => {
    const token = `t-${uniqId()}`;
    owuiAnswers.set(token, { status: 200, body: { id: "u1", email: "i@example.com", name: "I", role: "user" } });
    const before = owuiSeen.length;
    expect(await introspectOpenWebUI(owuiUrl + "/", token, "u1")).toEqual({ email: "i@example.com", name: "I" });
    expect(owuiSeen.slice(before)).toEqual([
      { path: "/api/v1/auths/", authorization: `Bearer ${token}`, accept: "application/json" },
    ]);
    owuiAnswers.set(token, { status: 401, body: {} });
    expect(await introspectOpenWebUI(owuiUrl + "/", token, "u1")).toEqual({ email: "i@example.com", name: "I" });
    expect(owuiSeen.length).toBe(before + 1);
    // another Open WebUI is another cache entry
    expect(await introspectOpenWebUI(owuiUrl, token, "u1")).toBeNull();
  });

  it("remembers a refusal (4xx, or an answer that is not JSON), not a failure (5xx, unreachable)", async () => {
    const refused = `t-${uniqId()}`;
    owuiAnswers.set(refused, { status: 403, body: {} });
    expect(await introspectOpenWebUI(owuiUrl, refused, "u1")).toBeNull();
    owuiAnswers.set(refused, { status: 200, body: { id: "u1", email: "r@example.com", role: "user" } });
    expect(await introspectOpenWebUI(owuiUrl, refused, "u1")).toBeNull();

    const failing = `t-${uniqId()}`;
    owuiAnswers.set(failing, { status: 500, body: {} });
    expect(await introspectOpenWebUI(owuiUrl, failing, "u1")).toBeNull();
    owuiAnswers.set(failing, { status: 200, body: { id: "u1", email: "f@example.com", role: "user" } });
    expect(await introspectOpenWebUI(owuiUrl, failing, "u1")).toEqual({ email: "f@example.com", name: "" });

    const hangup = `t-${uniqId()}`;
    owuiAnswers.set(hangup, { status: 0, body: null });
    expect(await introspectOpenWebUI(owuiUrl, hangup, "u1")).toBeNull();
    owuiAnswers.set(hangup, { status: 200, body: { id: "u1", email: "h@example.com", role: "user" } });
    expect(await introspectOpenWebUI(owuiUrl, hangup, "u1")).toEqual({ email: "h@example.com", name: "" });

    const dead = "http://127.0.0.1:1";
    const t = `t-${uniqId()}`;
    expect(await introspectOpenWebUI(dead, t, "u1")).toBeNull();
    const seen = owuiSeen.length;
    owuiAnswers.set(t, { status: 200, body: { id: "u1", email: "d@example.com", role: "user" } });
    // the same token at the live Open WebUI is asked (nothing remembered for the dead one either)
    expect(await introspectOpenWebUI(owuiUrl, t, "u1")).toEqual({ email: "d@example.com", name: "" });
    expect(owuiSeen.length).toBe(seen + 1);
  });
});

describe("identifyBearer: API keys", () => {
  it("finds a gateway key's owner with their groups, records its use, and caches it", async () => {
    const email = uniq("key");
    await user(email, { groups: ["devs"] });
    const k = await apiKey(email);
    const id = await identify(envOf(), k.key, "/admin/api/x");
    expect(id).toEqual({ email, groups: ["devs"], admin: false, via: "apikey" });
    await Promise.allSettled(waits);
    const [row] = await sql`SELECT last_used_at FROM api_keys WHERE id = ${k.id}`;
    expect(row!.last_used_at).not.toBeNull();
    expect(await identify(envOf(), k.key)).toEqual(id);
  });

  it("refuses an unknown key, a malformed mcpgw_ key, and an expired one", async () => {
    const email = uniq("key2");
    await user(email);
    expect(await identify(envOf(), (await generateApiKey()).key)).toBeNull();
    expect(await identify(envOf(), "mcpgw_short")).toBeNull();
    const expired = await apiKey(email, { expiresAt: new Date(Date.now() - 1000) });
    expect(await identify(envOf(), expired.key)).toBeNull();
  });

  it("finds an operator's own key (ADMIN_API_KEY, any printable string of 16-200 characters)", async () => {
    const email = uniq("admin");
    await user(email, { admin: true });
    const key = `my own admin key with spaces ${uniqId()}`;
    await sql`INSERT INTO api_keys (id, user_email, name, prefix, key_hash) VALUES (${"adm" + uniqId()}, ${email}, 'admin', 'my own', ${await sha256Hex(key)})`;
    expect(await identify(envOf(), key, "/admin/api/x")).toEqual({ email, groups: [], admin: true, via: "apikey" });
    expect(await identify(envOf(), "short")).toBeNull();
  });
});

describe("identifyBearer: IdP tokens", () => {
  it("accepts a token for the MCP resource naming a verified e-mail, syncing its groups", async () => {
    const email = uniq("oidc");
    const token = await idpToken({ email: email.toUpperCase(), groups: ["Devs", "unknown-group"], name: "Olive" });
    const id = await identify(oidcEnv(), token, "/mcp");
    expect(id).toEqual({ email, groups: ["devs", "unknown-group"], admin: false, via: "oidc-bearer" });
    const [u] = await sql`SELECT display_name FROM users WHERE email = ${email}`;
    expect(u!.display_name).toBe("Olive");
    const m = await sql`SELECT group_name, source FROM user_group_membership WHERE user_email = ${email}`;
    expect(m.map((r) => [r.group_name, r.source])).toEqual([["devs", "idp"]]);
  });

  it("accepts the issuer with or without a trailing slash, and the server's own resource on its path", async () => {
    const email = uniq("slash");
    expect(await identify(oidcEnv(), await idpToken({ email }, { iss: issuer + "/" }))).toBeNull(); // jose checks the discovery's issuer exactly
    expect(await identify(oidcEnv({ OIDC_ISSUER: issuer + "/" }), await idpToken({ email }))).toMatchObject({ email });
    expect(
      await identify(oidcEnv(), await idpToken({ email }, { aud: `${ORIGIN}/mcp/files` }), "/mcp/files"),
    ).toMatchObject({ email });
  });

  it("refuses another audience, the /mcp audience on /admin, no verified e-mail, and expired tokens; never as an operator key", async () => {
    const email = uniq("aud");
    const env = oidcEnv();
    expect(await identify(env, await idpToken({ email }, { aud: "gw-client" }))).toBeNull();
    expect(await identify(env, await idpToken({ email }), "/admin/api/x")).toBeNull();
    expect(await identify(env, await idpToken({ email }, { aud: `${ORIGIN}/admin` }), "/admin/api/x")).toMatchObject({
      email,
    });
    expect(await identify(env, await idpToken({ email, email_verified: false }))).toBeNull();
    expect(await identify(env, await idpToken({ preferred_username: email }))).toBeNull();
    expect(await identify(env, await idpToken({ email }, { exp: Math.floor(Date.now() / 1000) - 120 }))).toBeNull();
    // a token that would open as an operator's key were it not the IdP's
    const token = await idpToken({ email }, { aud: "elsewhere" });
    await user(email);
    await sql`INSERT INTO api_keys (id, user_email, name, prefix, key_hash) VALUES (${"jwt" + uniqId()}, ${email}, 'j', 'eyJ', ${await sha256Hex(token)})`;
    expect(await identify(env, token)).toBeNull();
  });

  it("decides IdP or not by the issuer claim alone, without falling through for the IdP's", async () => {
    const email = uniq("iss");
    await user(email);
    const asKey = async (token: string) =>
      sql`INSERT INTO api_keys (id, user_email, name, prefix, key_hash) VALUES (${"iss" + uniqId()}, ${email}, 'k', 'eyJ', ${await sha256Hex(token)})`;
    // short HS256 tokens (an operator's key is at most 200 characters)
    const small = (iss: string) =>
      new SignJWT({ n: uniqId() })
        .setProtectedHeader({ alg: "HS256" })
        .setIssuer(iss)
        .sign(new TextEncoder().encode("k".repeat(32)));
    // another issuer: not the IdP's, so it may be an operator's key (here it is one)
    const other = await small("o");
    await asKey(other);
    expect(await identify(oidcEnv(), other)).toMatchObject({ email, via: "apikey" });
    // the IdP's issuer with a trailing slash is the IdP's: verified (and refused), never a key
    const slash = await small(issuer + "/");
    expect(slash.length).toBeLessThanOrEqual(200);
    await asKey(slash);
    expect(await identify(oidcEnv(), slash)).toBeNull();
    // an issuer that is not a string is not the IdP's
    const numeric = await new SignJWT({ iss: 5 } as never)
      .setProtectedHeader({ alg: "ES256", kid: "k1" })
      .setSubject("s")
      .setExpirationTime("5m")
      .sign(signKey);
    expect(await identify(oidcEnv(), numeric)).toBeNull();
  });

  it("records the IdP's display name only when it is a string", async () => {
    const a = uniq("noname");
    await identify(oidcEnv(), await idpToken({ email: a }));
    const b = uniq("numname");
    await identify(oidcEnv(), await idpToken({ email: b, name: 5 }));
    const rows = await sql`SELECT email, display_name FROM users WHERE email IN (${a}, ${b}) ORDER BY email`;
    expect(rows.map((r) => r.display_name)).toEqual(["", ""]);
  });

  it("without OIDC configured, an IdP-shaped token is not an IdP token", async () => {
    const email = uniq("nooidc");
    expect(await identify(envOf(), await idpToken({ email }))).toBeNull();
  });
});

describe("identifyBearer: Open WebUI session tokens", () => {
  it("introspects a signed token on /mcp and takes the account's e-mail", async () => {
    const email = uniq("owui");
    const token = await owuiToken("uid-1");
    owuiAnswers.set(token, { status: 200, body: { id: "uid-1", email, name: "Wes", role: "user" } });
    expect(await identify(owuiEnv({ WEBUI_SECRET_KEY: WEBUI_SECRET }), token, "/mcp/files")).toEqual({
      email,
      groups: [],
      admin: false,
      via: "owui-session",
    });
    const [u] = await sql`SELECT display_name FROM users WHERE email = ${email}`;
    expect(u!.display_name).toBe("Wes");
    // without WEBUI_SECRET_KEY the introspection alone decides
    expect(await identify(owuiEnv(), token, "/mcp")).toMatchObject({ email, via: "owui-session" });
  });

  it("keeps each token's identity apart, and cached", async () => {
    const [e1, e2] = [uniq("owa"), uniq("owb")];
    const [t1, t2] = [await owuiToken("id-a"), await owuiToken("id-b")];
    await user(e1);
    await user(e2); // known users: no catalog version change while identifying
    owuiAnswers.set(t1, { status: 200, body: { id: "id-a", email: e1, role: "user" } });
    owuiAnswers.set(t2, { status: 200, body: { id: "id-b", email: e2, role: "user" } });
    const from = calls.length;
    expect(await identify(owuiEnv(), t1)).toMatchObject({ email: e1 });
    expect(await identify(owuiEnv(), t2)).toMatchObject({ email: e2 });
    expect(await identify(owuiEnv(), t1)).toMatchObject({ email: e1 });
    expect(ran("ensureUserFacts", from)).toBe(2);
  });

  it("refuses it off /mcp, with a bad signature, for another account id, or without OWUI_URL", async () => {
    const email = uniq("owui2");
    const token = await owuiToken("uid-2");
    owuiAnswers.set(token, { status: 200, body: { id: "uid-2", email, role: "user" } });
    expect(await identify(owuiEnv(), token, "/admin/api/x")).toBeNull();
    const forged = await owuiToken("uid-2", "another-secret-0123456789abcdef");
    owuiAnswers.set(forged, { status: 200, body: { id: "uid-2", email, role: "user" } });
    expect(await identify(owuiEnv({ WEBUI_SECRET_KEY: WEBUI_SECRET }), forged, "/mcp")).toBeNull();
    const other = await owuiToken("uid-3");
    owuiAnswers.set(other, { status: 200, body: { id: "uid-2", email, role: "user" } });
    expect(await identify(owuiEnv(), other, "/mcp")).toBeNull();
    expect(await identify(envOf(), token, "/mcp")).toBeNull();
    // not an Open WebUI token: an issuer, no id, or another algorithm
    const withIss = await owuiToken("uid-2", WEBUI_SECRET, { iss: "someone" });
    owuiAnswers.set(withIss, { status: 200, body: { id: "uid-2", email, role: "user" } });
    expect(await identify(owuiEnv(), withIss, "/mcp")).toBeNull();
    const noId = await new SignJWT({ sub: "x" })
      .setProtectedHeader({ alg: "HS256" })
      .sign(new TextEncoder().encode(WEBUI_SECRET));
    owuiAnswers.set(noId, { status: 200, body: { email, role: "user" } });
    expect(await identify(owuiEnv(), noId, "/mcp")).toBeNull();
    const hs512 = await new SignJWT({ id: "uid-2" })
      .setProtectedHeader({ alg: "HS512" })
      .sign(new TextEncoder().encode(WEBUI_SECRET + WEBUI_SECRET));
    owuiAnswers.set(hs512, { status: 200, body: { id: "uid-2", email, role: "user" } });
    expect(await identify(owuiEnv(), hs512, "/mcp")).toBeNull();
  });
});

describe("identifyBearer: Open WebUI's forwarded headers", () => {
  it("acts for the forwarded user on /mcp with the service key", async () => {
    const email = uniq("fwd");
    expect(
      await identify(fwdEnv(), SERVICE_KEY, "/mcp", {
        "x-openwebui-user-email": ` ${email.toUpperCase()} `,
        "x-openwebui-user-name": "Fay",
      }),
    ).toEqual({ email, groups: [], admin: false, via: "owui-headers" });
    const [u] = await sql`SELECT display_name FROM users WHERE email = ${email}`;
    expect(u!.display_name).toBe("Fay");
    expect(await identify(fwdEnv(), SERVICE_KEY, "/mcp/files", { "x-openwebui-user-email": email })).toMatchObject({
      email,
    });
  });

  it("keeps forwarded users apart, takes e-mails up to 254 characters, and no name as none", async () => {
    const [a, b] = [uniq("fa"), uniq("fb")];
    expect(await identify(fwdEnv(), SERVICE_KEY, "/mcp", { "x-openwebui-user-email": a })).toMatchObject({ email: a });
    expect(await identify(fwdEnv(), SERVICE_KEY, "/mcp", { "x-openwebui-user-email": b })).toMatchObject({ email: b });
    const [u] = await sql`SELECT display_name FROM users WHERE email = ${a}`;
    expect(u!.display_name).toBe("");
    const long = `${"l".repeat(254 - "@example.com".length - 1)}${n++ % 10}@example.com`;
    expect(long).toHaveLength(254);
    expect(await identify(fwdEnv(), SERVICE_KEY, "/mcp", { "x-openwebui-user-email": long })).toMatchObject({
      email: long,
    });
  });

  it("refuses off /mcp, without or with a malformed e-mail, with another key, or when forwarding is off", async () => {
    const email = uniq("fwd2");
    const h = { "x-openwebui-user-email": email };
    expect(await identify(fwdEnv(), SERVICE_KEY, "/admin/api/x", h)).toBeNull();
    expect(await identify(fwdEnv(), SERVICE_KEY, "/mcp", {})).toBeNull();
    for (const bad of ["nobody", "a b@c.d", "a@b,c@d", `${"a".repeat(250)}@x.yz`])
      expect(await identify(fwdEnv(), SERVICE_KEY, "/mcp", { "x-openwebui-user-email": bad })).toBeNull();
    expect(await identify(fwdEnv(), SERVICE_KEY + "x", "/mcp", h)).toBeNull();
    expect(await identify(envOf(), SERVICE_KEY, "/mcp", h)).toBeNull();
  });

  it("never acts for an administrator: 403 forbidden", async () => {
    const email = uniq("fwdadmin");
    await user(email, { admin: true });
    const err = await identify(fwdEnv(), SERVICE_KEY, "/mcp", { "x-openwebui-user-email": email }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CredentialRefused);
    expect(err).toMatchObject({
      status: 403,
      code: "forbidden",
      message: expect.stringContaining("cannot act for an administrator"),
    });
    const member = uniq("fwdmember");
    await user(member, { groups: [] });
    await sql`INSERT INTO groups (name) VALUES ('mcp-admin') ON CONFLICT DO NOTHING`;
    await sql`INSERT INTO user_group_membership (user_email, group_name) VALUES (${member}, 'mcp-admin')`;
    await expect(identify(fwdEnv(), SERVICE_KEY, "/mcp", { "x-openwebui-user-email": member })).rejects.toBeInstanceOf(
      CredentialRefused,
    );
  });
});

describe("identifySession", () => {
  it("needs the user to exist and the session not to be revoked", async () => {
    const email = uniq("sess");
    await user(email, { groups: ["ops"] });
    const session = { email, sid: `sid-${uniqId()}`, groups: ["QA"] } as never;
    expect(await identifySession(db, session)).toEqual({ email, groups: ["ops", "qa"], admin: false, via: "session" });
    await sql`INSERT INTO auth_revoked_sessions (sid, expires_at) VALUES (${(session as { sid: string }).sid}, now() + interval '1 hour')`;
    expect(await identifySession(db, session)).toBeNull();
    expect(await identifySession(db, { email: uniq("ghost"), sid: "s", groups: [] } as never)).toBeNull();
  });
});

describe("the rate limit's Postgres counters (sqlCounterStore)", () => {
  it("adds deltas in Postgres and answers the global counts, on a connection of its own", async () => {
    const store = sqlCounterStore(scratch.url);
    const subject = uniq("rl");
    const now = Date.now();
    const w = now - (now % 60_000);
    expect([...(await store([{ subject, windowStart: w, delta: 2 }])).entries()]).toEqual([[`${subject}\n${w}`, 2]]);
    expect((await store([{ subject, windowStart: w, delta: 3 }])).get(`${subject}\n${w}`)).toBe(5);
    await expect(
      sqlCounterStore("postgres://postgres@127.0.0.1:1/none")([{ subject, windowStart: w, delta: 1 }]),
    ).rejects.toThrow();
  });
});

// the slow ones last: a mutant killed by a quick test above is not run through them
describe("slow: cache lifetimes and bounds", () => {
  it("forgets answers after 60 s and keeps at most 2000", async () => {
    const token = `t-${uniqId()}`;
    owuiAnswers.set(token, { status: 200, body: { id: "u1", email: "old@example.com", role: "user" } });
    const start = Date.now();
    vi.useFakeTimers({ now: start, toFake: ["Date"] });
    try {
      expect(await introspectOpenWebUI(owuiUrl, token, "u1")).toMatchObject({ email: "old@example.com" });
      owuiAnswers.set(token, { status: 200, body: { id: "u1", email: "new@example.com", role: "user" } });
      vi.setSystemTime(start + 59_900);
      expect(await introspectOpenWebUI(owuiUrl, token, "u1")).toMatchObject({ email: "old@example.com" });
      vi.setSystemTime(start + 60_000);
      expect(await introspectOpenWebUI(owuiUrl, token, "u1")).toMatchObject({ email: "new@example.com" });
      // 2000 other answers push the first out
      const first = `t-${uniqId()}`;
      owuiAnswers.set(first, { status: 200, body: { id: "u1", email: "first@example.com", role: "user" } });
      await introspectOpenWebUI(owuiUrl, first, "u1");
      owuiAnswers.set(first, { status: 401, body: {} });
      // a second answer does not push out the first
      const second = `t-${uniqId()}`;
      owuiAnswers.set(second, { status: 401, body: {} });
      await introspectOpenWebUI(owuiUrl, second, "u1");
      expect(await introspectOpenWebUI(owuiUrl, first, "u1")).toMatchObject({ email: "first@example.com" });
      for (let i = 0; i < 2000; i++) await introspectOpenWebUI(owuiUrl, `fill-${i}`, "u1");
      expect(await introspectOpenWebUI(owuiUrl, first, "u1")).toBeNull();
    } finally {
      vi.useRealTimers();
    }
  }, 60_000);

  it("keeps the identity until the token's exp, never past it", async () => {
    const now = Math.floor(Date.now() / 1000);
    const [e1, e2] = [uniq("exp"), uniq("exp")];
    await user(e1);
    await user(e2); // known users: no catalog version change while identifying
    const live = await idpToken({ email: e1 }, { exp: now + 300 });
    let from = calls.length;
    await identify(oidcEnv(), live);
    await identify(oidcEnv(), live);
    expect(ran("ensureUserFacts", from)).toBe(1);
    // expired 20 s ago: within jose's 30 s tolerance it verifies, but is never cached
    const stale = await idpToken({ email: e2 }, { exp: now - 20 });
    from = calls.length;
    expect(await identify(oidcEnv(), stale)).not.toBeNull();
    await identify(oidcEnv(), stale);
    expect(ran("ensureUserFacts", from)).toBe(2);
  });
});
