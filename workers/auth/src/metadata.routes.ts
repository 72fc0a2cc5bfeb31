/** RFC 9728 protected-resource metadata for MCP clients that do OAuth. */
import type { Hono } from "hono";

export function registerMetadataRoutes(app: Hono<{ Bindings: Record<string, unknown> }>) {
  app.get("/.well-known/oauth-protected-resource/*", (c) => metadata(c.req.url, c.env));
  app.get("/.well-known/oauth-protected-resource", (c) => metadata(c.req.url, c.env));
}

function metadata(reqUrl: string, env: Record<string, unknown>): Response {
  const url = new URL(reqUrl);
  const origin = typeof env.PUBLIC_URL === "string" ? env.PUBLIC_URL.replace(/\/$/, "") : url.origin;
  const suffix = url.pathname.replace(/^\/\.well-known\/oauth-protected-resource/, "") || "/mcp";
  const issuer = typeof env.OIDC_ISSUER === "string" ? [env.OIDC_ISSUER] : [];
  return Response.json({
    resource: origin + suffix,
    authorization_servers: issuer,
    bearer_methods_supported: ["header"],
    resource_name: "MCP gateway",
  });
}
