/**
 * The local OIDC provider of `npm start` (scripts/lib/oidc.ts, the real oidc-provider library)
 * tried as a malicious site would, with the admin signed in at the provider: it registers no
 * client (no dynamic registration), sends no code to a redirect URI a client did not register,
 * and its public client for MCP clients (`oauth_2.1` mode) answers only loopback redirect URIs
 * and only after the user allowed it. That client's token, found through the gateway's resource
 * metadata (RFC 9728), is accepted on /mcp.
 */
import { createHash, randomBytes } from "node:crypto";
import { base64url } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GATEWAY_CLIENT_ID, MCP_CLIENT_ID, OPEN_WEBUI_CLIENT_ID } from "../../scripts/lib/oidc";
import { browserLogin, CookieJar, step } from "../harness/login";
import { startTestStack, type TestStack } from "../harness/stack";

let t: TestStack;
/** A browser in which the admin is signed in at the provider (through the gateway's login). */
let adminJar: CookieJar;

beforeAll(async () => {
  t = await startTestStack();
  adminJar = (await browserLogin(t.url, "admin@localhost", "admin")).jar;
});
afterAll(() => t?.stop());

function pkce() {
  const verifier = base64url.encode(randomBytes(32));
  return { verifier, challenge: base64url.encode(createHash("sha256").update(verifier).digest()) };
}

interface Outcome {
  /** Where the provider finally sent the browser outside itself, if anywhere. */
  redirect: URL | null;
  /** The provider's last page when it did not redirect away (an error page, or the consent page). */
  status: number;
  html: string;
}

/**
 * Follows an authorization request in `jar` as a browser would: signs in with the form when asked
 * (`login`), answers a consent page with `consent` when one is shown, and stops at the first
 * redirect that leaves the provider, or at a page it does not know how to go on from.
 */
async function authorize(
  params: Record<string, string>,
  o: { jar?: CookieJar; login?: [string, string]; consent?: "allow" | "deny" | "stop" } = {},
): Promise<Outcome> {
  const jar = o.jar ?? new CookieJar();
  const issuer = new URL(t.idp!.issuer);
  const auth = new URL(`${issuer.origin}/auth`);
  for (const [k, v] of Object.entries({
    response_type: "code",
    scope: "openid email profile",
    state: "s".repeat(24),
    nonce: "n".repeat(24),
    code_challenge_method: "S256",
    ...params,
  }))
    auth.searchParams.set(k, v);
  let url = auth.toString();
  let init: RequestInit = {};
  for (let hops = 0; hops < 20; hops++) {
    const res = await step(jar, url, init);
    init = {};
    const location = res.headers.get("location");
    if (location) {
      const next = new URL(location, url);
      if (next.origin !== issuer.origin) return { redirect: next, status: res.status, html: "" };
      url = next.toString();
      continue;
    }
    const html = await res.text();
    const login = html.match(/<form[^>]*action="([^"]+\/login)"/);
    const consent = html.match(/<form[^>]*action="([^"]+\/consent)"/);
    if (res.status === 200 && login && o.login) {
      url = new URL(login[1]!, url).toString();
      init = {
        method: "POST",
        body: new URLSearchParams({ email: o.login[0], password: o.login[1] }).toString(),
        headers: { "content-type": "application/x-www-form-urlencoded" },
      };
      continue;
    }
    if (res.status === 200 && consent && o.consent && o.consent !== "stop") {
      url = new URL(consent[1]!, url).toString();
      init = {
        method: "POST",
        body: new URLSearchParams({ decision: o.consent }).toString(),
        headers: { "content-type": "application/x-www-form-urlencoded" },
      };
      continue;
    }
    return { redirect: null, status: res.status, html };
  }
  throw new Error("authorization did not finish in 20 steps");
}

describe("the local identity provider, against a malicious site", () => {
  it("refuses dynamic client registration: no registration endpoint advertised or served", async () => {
    const meta = (await (await fetch(`${t.idp!.issuer}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >;
    expect(meta.issuer).toBe(t.idp!.issuer);
    expect(meta.registration_endpoint).toBeUndefined();
    // the gateway's copy for 2025-03-26 clients says the same
    const asMeta = (await (await t.fetch("/.well-known/oauth-authorization-server")).json()) as Record<string, unknown>;
    expect(asMeta.registration_endpoint).toBeUndefined();
    for (const path of ["/reg", "/register", "/registration"]) {
      const reg = await fetch(`${t.idp!.issuer}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          redirect_uris: ["https://evil.example/cb"],
          client_name: "Totally Legit",
          grant_types: ["authorization_code"],
        }),
      });
      expect(reg.status, path).toBeGreaterThanOrEqual(400);
      expect(await reg.text(), path).not.toMatch(/client_id/);
    }
  });

  it("gives a site that registers its own redirect URI no code for the signed-in admin (the attack)", async () => {
    // step 1 of the attack: register a client with the site's redirect URI (open registration)
    const meta = (await (await fetch(`${t.idp!.issuer}/.well-known/openid-configuration`)).json()) as {
      registration_endpoint?: string;
    };
    const reg = await fetch(meta.registration_endpoint ?? `${t.idp!.issuer}/reg`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        redirect_uris: ["https://evil.example/cb"],
        client_name: "Totally Legit",
        grant_types: ["authorization_code"],
        token_endpoint_auth_method: "none",
      }),
    });
    const clientId = reg.ok ? ((await reg.json()) as { client_id: string }).client_id : "evil-client";
    // step 2: send the admin's browser to the authorization endpoint; the admin clicks nothing
    const { challenge } = pkce();
    const r = await authorize(
      { client_id: clientId, redirect_uri: "https://evil.example/cb", code_challenge: challenge },
      { jar: adminJar, consent: "stop" },
    );
    expect(r.redirect?.href ?? "").not.toMatch(/^https:\/\/evil\.example/);
    expect(r.redirect).toBeNull();
    expect(r.status).toBe(400);
    expect(r.html).toContain("invalid_client");
  });

  it("refuses a redirect URI the client did not register, for every client, without a code", async () => {
    const { challenge } = pkce();
    const tries: [string, string][] = [
      [GATEWAY_CLIENT_ID, "https://evil.example/cb"],
      [GATEWAY_CLIENT_ID, `${t.url}/auth/callback/../../evil`],
      [OPEN_WEBUI_CLIENT_ID, "https://evil.example/oauth/oidc/callback"],
      [OPEN_WEBUI_CLIENT_ID, "http://localhost:9999/oauth/oidc/callback"],
      [MCP_CLIENT_ID, "https://evil.example/callback"],
      [MCP_CLIENT_ID, "http://evil.example/callback"],
      [MCP_CLIENT_ID, "http://127.0.0.1.evil.example/callback"],
      [MCP_CLIENT_ID, "http://127.0.0.1:4711/elsewhere"],
    ];
    for (const [client, redirect] of tries) {
      const r = await authorize(
        { client_id: client, redirect_uri: redirect, code_challenge: challenge },
        { jar: adminJar, consent: "allow" },
      );
      expect(r.redirect, `${client} ${redirect}`).toBeNull();
      expect(r.status, `${client} ${redirect}`).toBe(400);
      expect(r.html, `${client} ${redirect}`).toMatch(/redirect_uri/);
    }
  });

  it("asks before it gives the public MCP client a code, and a user who denies gives none", async () => {
    const { challenge } = pkce();
    const redirect = "http://127.0.0.1:51234/callback";
    const asked = await authorize(
      { client_id: MCP_CLIENT_ID, redirect_uri: redirect, code_challenge: challenge },
      { jar: adminJar, consent: "stop" },
    );
    expect(asked.redirect).toBeNull();
    expect(asked.status).toBe(200);
    expect(asked.html).toContain("MCP client (public, loopback)");
    expect(asked.html).toContain("admin@localhost");
    expect(asked.html).toContain(redirect);
    const denied = await authorize(
      { client_id: MCP_CLIENT_ID, redirect_uri: redirect, code_challenge: challenge },
      { jar: adminJar, consent: "deny" },
    );
    expect(denied.redirect?.origin).toBe("http://127.0.0.1:51234");
    expect(denied.redirect?.searchParams.get("error")).toBe("access_denied");
    expect(denied.redirect?.searchParams.get("code")).toBeNull();
  });

  it("lets an MCP client in oauth_2.1 mode find the provider, sign in on loopback and use /mcp with the token (RFC 9728, 8252, 8707)", async () => {
    const challenge401 = await t.fetch("/mcp", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: "{}",
    });
    const metaUrl = challenge401.headers.get("www-authenticate")!.match(/resource_metadata="([^"]+)"/)![1]!;
    const meta = (await (await fetch(metaUrl)).json()) as { resource: string; authorization_servers: string[] };
    expect(meta.authorization_servers).toEqual([t.idp!.issuer]);
    const as = (await (await fetch(`${meta.authorization_servers[0]}/.well-known/openid-configuration`)).json()) as {
      token_endpoint: string;
    };
    const { verifier, challenge } = pkce();
    // any port on loopback (RFC 8252 7.3), as a native client's one-off listener would have
    const redirect = "http://127.0.0.1:33418/oauth/callback";
    const r = await authorize(
      { client_id: MCP_CLIENT_ID, redirect_uri: redirect, code_challenge: challenge, resource: meta.resource },
      { login: ["joelalama@google.com", "demo"], consent: "allow" },
    );
    expect(r.redirect?.origin).toBe("http://127.0.0.1:33418");
    const code = r.redirect!.searchParams.get("code")!;
    expect(code).toBeTruthy();
    // a public client: no secret, the PKCE verifier proves it is the one that asked
    const token = await fetch(as.token_endpoint, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code,
        redirect_uri: redirect,
        client_id: MCP_CLIENT_ID,
        code_verifier: verifier,
      }),
    });
    expect(token.status).toBe(200);
    const { access_token } = (await token.json()) as { access_token: string };
    const init = await t.fetch("/mcp", {
      method: "POST",
      key: access_token,
      headers: { accept: "application/json, text/event-stream" },
      json: {
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "oauth-client", version: "1" } },
      },
    });
    expect(init.status).toBe(200);
    await init.body?.cancel();
    // the code was for this client and this verifier only
    const replay = await fetch(as.token_endpoint, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code,
        redirect_uri: redirect,
        client_id: MCP_CLIENT_ID,
        code_verifier: verifier,
      }),
    });
    expect(replay.status).toBe(400);
  });

  it("takes the MCP Inspector's debug redirect on loopback, and no other path", async () => {
    const { challenge } = pkce();
    const debug = "http://localhost:6274/oauth/callback/debug";
    const r = await authorize(
      { client_id: MCP_CLIENT_ID, redirect_uri: debug, code_challenge: challenge },
      { login: ["joelalama@google.com", "demo"], consent: "allow" },
    );
    expect(r.redirect?.origin + r.redirect!.pathname).toBe(debug);
    expect(r.redirect!.searchParams.get("code")).toBeTruthy();
    const other = await authorize(
      {
        client_id: MCP_CLIENT_ID,
        redirect_uri: "http://localhost:6274/oauth/callback/other",
        code_challenge: challenge,
      },
      { login: ["joelalama@google.com", "demo"], consent: "allow" },
    );
    expect(other.redirect).toBeNull();
    expect(other.status).toBe(400);
  });
});
