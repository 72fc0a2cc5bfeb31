/**
 * Per-user credentials, inside workerd: the settings' schema (shared/credentials.ts), the OAuth
 * client's authorization URL (PKCE S256, RFC 8707 resource), and the mcp worker's lookup for a
 * per-user server (workers/mcp/src/upstream/credentials.ts): never cached, `?refresh=1` on
 * demand, 409 not_connected as NotConnectedError. The catalog stand-in is a mock (the real one is
 * in test/integration/user-credentials.test.ts).
 */
import { afterEach, describe, expect, it } from "vitest";
import { connectionContext, connectionsFit, CredentialsInput, publicCredentials } from "../../shared/credentials";
import { authorizeUrl, pkceS256 } from "../../shared/oauth.client";
import type { CatalogServer } from "../../workers/mcp/src/catalog.client";
import { clearCredentialsCache, NotConnectedError, upstreamTarget } from "../../workers/mcp/src/upstream/credentials";

describe("credential settings", () => {
  it("defaults the header and prefix, requires oauth for per-user-oauth only, refuses protocol headers", () => {
    expect(CredentialsInput.parse({ mode: "per-user-token" })).toEqual({
      mode: "per-user-token",
      header: "Authorization",
      prefix: "Bearer ",
    });
    expect(CredentialsInput.safeParse({ mode: "per-user-oauth" }).error?.issues[0]?.path).toEqual(["oauth"]);
    expect(CredentialsInput.safeParse({ mode: "per-user-token", oauth: { clientId: "x" } }).success).toBe(false);
    for (const header of ["Mcp-Session-Id", "host", "Cookie", "bad header"])
      expect(CredentialsInput.safeParse({ mode: "per-user-token", header }).success, header).toBe(false);
    expect(CredentialsInput.safeParse({ mode: "per-user-token", unknown: 1 }).success).toBe(false);
  });

  it("shows the client secret only as hasClientSecret; contexts bind tokens to user and server", () => {
    expect(
      publicCredentials({
        mode: "per-user-oauth",
        header: "Authorization",
        prefix: "Bearer ",
        oauth: { clientId: "c", clientSecret: "mcpgw:v1:sealed" },
      }),
    ).toEqual({
      mode: "per-user-oauth",
      header: "Authorization",
      prefix: "Bearer ",
      oauth: { clientId: "c", hasClientSecret: true },
    });
    expect(publicCredentials(undefined)).toEqual({ mode: "shared" });
    expect(connectionContext("Alice@X.test", "gh", "access")).toBe("user_connections:alice@x.test:gh:access");
  });

  it("keeps users' connections only while the address, mode, header, OAuth client and resource stay", () => {
    const url = "https://up.test/mcp";
    const oauth = {
      mode: "per-user-oauth" as const,
      header: "Authorization",
      prefix: "Bearer ",
      oauth: { clientId: "gw" },
    };
    const before = { url, credentials: oauth };
    // what does not touch the tokens: the prefix, the scopes, the endpoints, the client secret
    expect(connectionsFit(before, before)).toBe(true);
    expect(connectionsFit(before, { url, credentials: { ...oauth, prefix: "token " } })).toBe(true);
    expect(
      connectionsFit(before, {
        url,
        credentials: { ...oauth, oauth: { clientId: "gw", scopes: "repo", clientSecret: "mcpgw:v1:x" } },
      }),
    ).toBe(true);
    // the header defaults to Authorization on both sides
    expect(connectionsFit({ url, credentials: { mode: "per-user-token" } }, { url, credentials: oauth })).toBe(false);
    expect(
      connectionsFit(
        { url, credentials: { mode: "per-user-token" } },
        { url, credentials: { mode: "per-user-token", header: "Authorization" } },
      ),
    ).toBe(true);
    // what does
    expect(connectionsFit(before, { url: "https://elsewhere.test/mcp", credentials: oauth })).toBe(false);
    expect(connectionsFit(before, { url: `${url}/`, credentials: oauth })).toBe(false);
    expect(connectionsFit(before, { url, credentials: { ...oauth, header: "X-Token" } })).toBe(false);
    expect(connectionsFit(before, { url, credentials: { ...oauth, oauth: { clientId: "other" } } })).toBe(false);
    expect(
      connectionsFit(before, { url, credentials: { ...oauth, oauth: { clientId: "gw", resource: "https://r.test" } } }),
    ).toBe(false);
    expect(connectionsFit(before, { url, credentials: { mode: "shared" } })).toBe(false);
    expect(connectionsFit(before, { url })).toBe(false);
    // a shared server has no connections: nothing to drop
    expect(
      connectionsFit({ url, credentials: { mode: "shared" } }, { url: "https://elsewhere.test", credentials: oauth }),
    ).toBe(true);
    expect(connectionsFit({ url }, { url, credentials: oauth })).toBe(true);
  });

  it("builds the authorization URL with PKCE S256 and the resource indicator", async () => {
    const url = new URL(
      await authorizeUrl(
        {
          issuer: null,
          authorizationEndpoint: "https://as.test/authorize?x=1",
          tokenEndpoint: "https://as.test/token",
          basicAuth: true,
          revocationEndpoint: null,
          clientId: "gw",
          clientSecret: null,
          scopes: "repo",
          resource: "https://up.test/mcp",
        },
        { redirectUri: "https://gw.test/auth/connect-callback", state: "s".repeat(40), verifier: "v".repeat(64) },
      ),
    );
    expect(Object.fromEntries(url.searchParams)).toEqual({
      x: "1",
      response_type: "code",
      client_id: "gw",
      redirect_uri: "https://gw.test/auth/connect-callback",
      scope: "repo",
      state: "s".repeat(40),
      code_challenge: await pkceS256("v".repeat(64)),
      code_challenge_method: "S256",
      resource: "https://up.test/mcp",
    });
    // RFC 7636 appendix B
    expect(await pkceS256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")).toBe(
      "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    );
  });
});

function fakeCatalog(answer: () => Response) {
  const urls: string[] = [];
  return { urls, fetcher: { fetch: async (input: string) => (urls.push(input), answer()) } as unknown as Fetcher };
}
const perUser = {
  id: "gh",
  url: "http://up.test/mcp",
  transport: "streamable-http",
  credentials: { version: "v1", perUser: "per-user-oauth" },
  tools: [],
  prompts: [],
  resources: [],
  resourceTemplates: [],
} as unknown as CatalogServer;

describe("the mcp worker's lookup for a per-user server", () => {
  afterEach(() => clearCredentialsCache());

  it("asks the catalog on every forward (the answer is the user's own and changes), with refresh=1 on demand", async () => {
    let token = "t1";
    const { fetcher, urls } = fakeCatalog(() =>
      Response.json({ server: "gh", version: "v1", headers: { Authorization: `Bearer ${token}` } }),
    );
    expect((await upstreamTarget(fetcher, "a@x.test", perUser)).headers).toEqual({ Authorization: "Bearer t1" });
    token = "t2";
    expect((await upstreamTarget(fetcher, "a@x.test", perUser)).headers).toEqual({ Authorization: "Bearer t2" });
    await upstreamTarget(fetcher, "a@x.test", perUser, { refresh: true });
    expect(urls.map((u) => new URL(u).pathname + new URL(u).search)).toEqual([
      "/internal/credentials/a%40x.test/servers/gh",
      "/internal/credentials/a%40x.test/servers/gh",
      "/internal/credentials/a%40x.test/servers/gh?refresh=1",
    ]);
  });

  it("turns 409 not_connected into NotConnectedError with its reason", async () => {
    const { fetcher } = fakeCatalog(() =>
      Response.json({ error: "not_connected", reason: "expired", server: "gh" }, { status: 409 }),
    );
    const err = await upstreamTarget(fetcher, "a@x.test", perUser).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotConnectedError);
    expect((err as NotConnectedError).reason).toBe("expired");
    expect((err as Error).message).toBe("you have not connected your account for gh (expired)");
  });
});
