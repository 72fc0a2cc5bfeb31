/**
 * OAuth discovery for MCP clients that do OAuth:
 * - `/.well-known/oauth-protected-resource[/<path>]` (RFC 9728): the resource `<origin>/<path>`
 *   (default `/mcp`), the configured OIDC provider as authorization server, the scopes;
 * - `/.well-known/oauth-authorization-server` (RFC 8414, for clients of the 2025-03-26 revision
 *   that look on the resource's origin): the provider's own metadata, passed through;
 * - `/auth/oauth-client.json`: the gateway's own OAuth Client ID Metadata Document (CIMD,
 *   draft-ietf-oauth-client-id-metadata-document), for per-user-oauth servers whose
 *   authorization server takes URL client ids: a public client (PKCE, no secret) whose client
 *   id is this document's URL and whose one redirect URI is the connect callback.
 */
import type { Hono } from "hono";
import { cors } from "hono/cors";
import { readEnv } from "../../../shared/env";
import { AuthEnv } from "./env";
import { oidcConfig } from "./oidc.client";
import { publicOrigin } from "./session";

type App = Hono<{ Bindings: Record<string, unknown> }>;

/** Where the gateway's client ID metadata document is; `<PUBLIC_URL>` + this is its client id. */
export const CLIENT_METADATA_PATH = "/auth/oauth-client.json";

export function registerMetadataRoutes(app: App) {
  // Browser-based clients (the MCP Inspector's web UI) read these from another origin and send
  // `MCP-Protocol-Version`, so the browser asks first with a preflight OPTIONS: answer it.
  // Public documents, no credentials: any origin, GET only, the requested headers allowed.
  for (const path of [
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-protected-resource/*",
    "/.well-known/oauth-authorization-server",
  ]) {
    app.use(path, cors({ origin: "*", allowMethods: ["GET"], maxAge: 86400 }));
  }
  const metadata = (c: { req: { url: string; raw: Request }; env: Record<string, unknown> }) => {
    const env = readEnv(AuthEnv, c.env);
    const url = new URL(c.req.url);
    const origin = publicOrigin(env);
    const suffix = url.pathname.replace(/^\/\.well-known\/oauth-protected-resource/, "").replace(/\/+$/, "") || "/mcp";
    const cfg = oidcConfig(env);
    return Response.json(
      {
        resource: origin + suffix,
        authorization_servers: cfg ? [cfg.issuer] : [],
        scopes_supported: cfg ? cfg.scopes.split(/\s+/).filter(Boolean) : [],
        bearer_methods_supported: ["header"],
        resource_name: "MCP gateway",
      },
      { headers: { "cache-control": "public, max-age=300", "access-control-allow-origin": "*" } },
    );
  };
  app.get("/.well-known/oauth-protected-resource", (c) => metadata(c));
  app.get("/.well-known/oauth-protected-resource/*", (c) => metadata(c));

  app.get(CLIENT_METADATA_PATH, (c) => {
    const origin = publicOrigin(readEnv(AuthEnv, c.env));
    return Response.json(
      {
        client_id: origin + CLIENT_METADATA_PATH,
        client_name: "MCP gateway",
        redirect_uris: [`${origin}/auth/connect-callback`],
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        token_endpoint_auth_method: "none",
      },
      { headers: { "cache-control": "public, max-age=3600" } },
    );
  });

  app.get("/.well-known/oauth-authorization-server", async (c) => {
    const cfg = oidcConfig(readEnv(AuthEnv, c.env));
    if (!cfg) return c.json({ error: "not_found", message: "no authorization server is configured" }, 404);
    const res = await fetch(`${cfg.issuer}/.well-known/openid-configuration`).catch(() => null);
    if (!res?.ok)
      return c.json({ error: "idp_unreachable", message: "the identity provider's metadata is unavailable" }, 502);
    return new Response(res.body, {
      headers: { "content-type": "application/json", "access-control-allow-origin": "*" },
    });
  });
}
