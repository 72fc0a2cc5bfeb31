/**
 * The OpenAPI 3.1 document of the admin API, generated from the zod schemas in api.schema.ts
 * (`z.toJSONSchema`), so validation and documentation cannot drift apart.
 */
import { z } from "zod";
import * as S from "./api.schema";

interface Op {
  method: "get" | "put" | "post" | "delete";
  path: string;
  summary: string;
  tag: string;
  body?: z.ZodType;
  query?: z.ZodObject;
  ok: { status: number; schema?: z.ZodType; description: string };
  /** Any signed-in user may call it (their own data); the rest of the API is for admins. */
  self?: boolean;
}

const P = { id: "{id}", name: "{name}", email: "{email}", keyId: "{keyId}" };

/** Every operation the API serves (api.routes.ts mounts the same paths). */
export const OPERATIONS: Op[] = [
  { method: "get", path: "/admin/api/whoami", summary: "Who the caller is (any signed-in user; the rest of the API is for admins)", tag: "identity", ok: { status: 200, schema: S.WhoAmIOut, description: "the caller's verified identity" } },
  { method: "get", path: "/admin/api/me", summary: "My access (groups -> tenants -> servers -> tools, only what I may use), my API keys and how to connect a client (any signed-in user, their own data)", tag: "self-service", self: true, ok: { status: 200, schema: S.MeOut, description: "the caller's own view" } },
  { method: "get", path: "/admin/api/me/keys", summary: "My API keys (never the keys themselves)", tag: "self-service", self: true, ok: { status: 200, schema: z.object({ keys: z.array(S.KeyOut) }), description: "the caller's keys" } },
  { method: "post", path: "/admin/api/me/keys", summary: "Issue myself an API key, shown this once (with a browser session or IdP token only: 403 with an API key; 409 over 20 live keys)", tag: "self-service", self: true, body: S.KeyBody, ok: { status: 201, schema: S.KeyCreatedOut, description: "the new key" } },
  { method: "delete", path: `/admin/api/me/keys/${P.keyId}`, summary: "Revoke one of my API keys (another user's key id: 404, like an unknown one)", tag: "self-service", self: true, ok: { status: 204, description: "revoked" } },
  { method: "get", path: "/admin/api/tenants", summary: "List tenants", tag: "tenants", ok: { status: 200, schema: z.object({ tenants: z.array(S.TenantOut) }), description: "every tenant" } },
  { method: "get", path: `/admin/api/tenants/${P.id}`, summary: "Get a tenant", tag: "tenants", ok: { status: 200, schema: S.TenantOut, description: "the tenant" } },
  { method: "put", path: `/admin/api/tenants/${P.id}`, summary: "Create or replace a tenant", tag: "tenants", body: S.TenantBody, ok: { status: 200, schema: S.TenantOut, description: "replaced (201 when created)" } },
  { method: "delete", path: `/admin/api/tenants/${P.id}`, summary: "Delete a tenant (409 while it has servers)", tag: "tenants", ok: { status: 204, description: "deleted" } },
  { method: "get", path: "/admin/api/servers", summary: "List servers (secret header values never returned)", tag: "servers", ok: { status: 200, schema: z.object({ servers: z.array(S.ServerOut) }), description: "every server" } },
  { method: "get", path: `/admin/api/servers/${P.id}`, summary: "Get a server", tag: "servers", ok: { status: 200, schema: S.ServerOut, description: "the server" } },
  { method: "put", path: `/admin/api/servers/${P.id}`, summary: "Create or replace a server; the catalog re-lists it", tag: "servers", body: S.ServerBody, ok: { status: 200, schema: S.ServerOut, description: "replaced (201 when created)" } },
  { method: "delete", path: `/admin/api/servers/${P.id}`, summary: "Delete a server", tag: "servers", ok: { status: 204, description: "deleted" } },
  { method: "get", path: `/admin/api/servers/${P.id}/changes`, summary: "Reviews of a server's tool definitions (review: hold/findings), with poisoning findings", tag: "review", query: S.ReviewsQuery, ok: { status: 200, schema: z.object({ changes: z.array(S.ReviewOut) }), description: "newest first" } },
  { method: "post", path: `/admin/api/servers/${P.id}/changes/{change}/approve`, summary: "Approve a pending change: users are served its definition", tag: "review", ok: { status: 200, schema: S.ReviewOut, description: "the decided review (409 when not pending)" } },
  { method: "post", path: `/admin/api/servers/${P.id}/changes/{change}/reject`, summary: "Reject a pending change: users keep the approved definition; calls stay refused while the upstream lists the rejected one", tag: "review", ok: { status: 200, schema: S.ReviewOut, description: "the decided review (409 when not pending)" } },
  { method: "post", path: `/admin/api/servers/${P.id}/refresh`, summary: "Re-list the server now", tag: "review", ok: { status: 202, description: "refresh requested" } },
  { method: "get", path: `/admin/api/servers/${P.id}/overrides`, summary: "A server's tool overrides", tag: "overrides", ok: { status: 200, schema: z.object({ overrides: z.array(S.OverrideOut) }), description: "by tool" } },
  { method: "get", path: `/admin/api/servers/${P.id}/overrides/{tool}`, summary: "One tool's override", tag: "overrides", ok: { status: 200, schema: S.OverrideOut, description: "the override" } },
  { method: "put", path: `/admin/api/servers/${P.id}/overrides/{tool}`, summary: "Rename a tool, replace its description or hide it for everyone", tag: "overrides", body: S.OverrideBody, ok: { status: 200, schema: S.OverrideOut, description: "replaced (201 when created)" } },
  { method: "delete", path: `/admin/api/servers/${P.id}/overrides/{tool}`, summary: "Remove a tool's override", tag: "overrides", ok: { status: 204, description: "deleted" } },
  { method: "get", path: "/admin/api/virtual-servers", summary: "List virtual servers", tag: "virtual servers", ok: { status: 200, schema: z.object({ virtualServers: z.array(S.VirtualServerOut) }), description: "every virtual server" } },
  { method: "get", path: `/admin/api/virtual-servers/${P.id}`, summary: "Get a virtual server", tag: "virtual servers", ok: { status: 200, schema: S.VirtualServerOut, description: "the virtual server" } },
  { method: "put", path: `/admin/api/virtual-servers/${P.id}`, summary: "Create or replace a virtual server: /mcp/<id> with chosen tools of several servers", tag: "virtual servers", body: S.VirtualServerBody, ok: { status: 200, schema: S.VirtualServerOut, description: "replaced (201 when created)" } },
  { method: "delete", path: `/admin/api/virtual-servers/${P.id}`, summary: "Delete a virtual server", tag: "virtual servers", ok: { status: 204, description: "deleted" } },
  { method: "get", path: "/admin/api/groups", summary: "List groups", tag: "groups", ok: { status: 200, schema: z.object({ groups: z.array(S.GroupOut) }), description: "every group" } },
  { method: "get", path: `/admin/api/groups/${P.name}`, summary: "Get a group", tag: "groups", ok: { status: 200, schema: S.GroupOut, description: "the group" } },
  { method: "put", path: `/admin/api/groups/${P.name}`, summary: "Create or replace a group: its tenants and tool rules", tag: "groups", body: S.GroupBody, ok: { status: 200, schema: S.GroupOut, description: "replaced (201 when created)" } },
  { method: "delete", path: `/admin/api/groups/${P.name}`, summary: "Delete a group", tag: "groups", ok: { status: 204, description: "deleted" } },
  { method: "get", path: "/admin/api/users", summary: "List users", tag: "users", ok: { status: 200, schema: z.object({ users: z.array(S.UserOut) }), description: "every user" } },
  { method: "get", path: `/admin/api/users/${P.email}`, summary: "Get a user with their keys", tag: "users", ok: { status: 200, schema: S.UserOut, description: "the user" } },
  { method: "put", path: `/admin/api/users/${P.email}`, summary: "Create or replace a user: groups and admin flag", tag: "users", body: S.UserBody, ok: { status: 200, schema: S.UserOut, description: "replaced (201 when created)" } },
  { method: "delete", path: `/admin/api/users/${P.email}`, summary: "Delete a user and their keys", tag: "users", ok: { status: 204, description: "deleted" } },
  { method: "get", path: `/admin/api/users/${P.email}/keys`, summary: "List a user's API keys (never the keys themselves)", tag: "keys", ok: { status: 200, schema: z.object({ keys: z.array(S.KeyOut) }), description: "the keys" } },
  { method: "post", path: `/admin/api/users/${P.email}/keys`, summary: "Issue an API key; the key is shown this once", tag: "keys", body: S.KeyBody, ok: { status: 201, schema: S.KeyCreatedOut, description: "the new key" } },
  { method: "get", path: `/admin/api/users/${P.email}/keys/${P.keyId}`, summary: "Get one API key's metadata (never the key)", tag: "keys", ok: { status: 200, schema: S.KeyOut, description: "the key's metadata" } },
  { method: "delete", path: `/admin/api/users/${P.email}/keys/${P.keyId}`, summary: "Revoke an API key", tag: "keys", ok: { status: 204, description: "revoked" } },
  { method: "get", path: `/admin/api/access/${P.email}`, summary: "Effective access: each visible server and tool with the user -> group -> tenant -> server chain", tag: "access", query: S.AccessQuery, ok: { status: 200, schema: S.AccessOut, description: "the explanation" } },
  { method: "get", path: "/admin/api/audit", summary: "The audit log, newest first", tag: "reports", query: S.AuditQuery, ok: { status: 200, schema: S.AuditOut, description: "audit entries" } },
  { method: "get", path: "/admin/api/health", summary: "Upstream health as the catalog last saw it, with live tool-call figures per server", tag: "reports", ok: { status: 200, schema: S.HealthOut, description: "per server" } },
  { method: "get", path: "/admin/api/changes", summary: "Changes of upstream tools, prompts and resources", tag: "reports", query: S.ChangesQuery, ok: { status: 200, schema: S.ChangesOut, description: "changes, newest first" } },
  { method: "get", path: "/admin/api/reports/usage", summary: "Tool calls over time and per user, tenant, server and tool; error rate and p50/p95 latency", tag: "reports", query: S.UsageQuery, ok: { status: 200, schema: S.UsageOut, description: "the report" } },
];

const jsonSchema = (s: z.ZodType) => z.toJSONSchema(s, { io: "input", target: "draft-2020-12", unrepresentable: "any", reused: "inline" }) as Record<string, unknown>;

/** Turns a schema into a self-contained JSON schema (its $defs lifted into components). */
function component(s: z.ZodType, components: Record<string, unknown>): Record<string, unknown> {
  const { $schema: _ignored, $defs, ...rest } = jsonSchema(s) as { $schema?: string; $defs?: Record<string, unknown> } & Record<string, unknown>;
  for (const [k, v] of Object.entries($defs ?? {})) components[k] = v;
  return JSON.parse(JSON.stringify(rest).replaceAll('"#/$defs/', '"#/components/schemas/'));
}

let cached: Record<string, unknown> | undefined;

/** The OpenAPI document; `server` is the public origin when known. */
export function openApiDocument(server?: string): Record<string, unknown> {
  if (!cached) {
    const components: Record<string, unknown> = {};
    const errorRef = component(S.ErrorOut, components);
    const paths: Record<string, Record<string, unknown>> = {};
    for (const op of OPERATIONS) {
      const params = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => ({
        name: m[1],
        in: "path",
        required: true,
        schema: m[1] === "email" ? { type: "string", format: "email" } : { type: "string", pattern: "^[a-z0-9][a-z0-9-]{0,31}$" },
      }));
      const queryParams = op.query
        ? Object.entries(op.query.shape).map(([name, s]) => {
            const schema = component(s as z.ZodType, components);
            const example = Array.isArray(schema.examples) ? schema.examples[0] : undefined;
            return { name, in: "query", required: false, schema, ...(schema.description ? { description: schema.description } : {}), ...(example !== undefined ? { example } : {}) };
          })
        : [];
      const errors: Record<string, unknown> = {
        "401": { description: "no valid credentials", content: { "application/json": { schema: errorRef } } },
        "403": { description: op.self ? (op.method === "post" ? "a cross-site request, or the caller used an API key" : "a cross-site request") : "not an administrator, or a cross-site request", content: { "application/json": { schema: errorRef } } },
      };
      if (op.body || op.query || params.length) errors["400"] = { description: "invalid input; `field` names it", content: { "application/json": { schema: errorRef } } };
      if (params.length) errors["404"] = { description: "unknown id", content: { "application/json": { schema: errorRef } } };
      if (op.self && op.method === "post") {
        errors["404"] = { description: "the caller is not a stored user yet (an admin adds them)", content: { "application/json": { schema: errorRef } } };
        errors["409"] = { description: "too many live keys: revoke one first", content: { "application/json": { schema: errorRef } } };
      }
      if (!op.self && (op.method === "delete" || op.method === "put")) errors["409"] = { description: "conflicts with dependent rows", content: { "application/json": { schema: errorRef } } };
      const ok: Record<string, unknown> = { description: op.ok.description };
      if (op.ok.schema) ok.content = { "application/json": { schema: component(op.ok.schema, components) } };
      const responses: Record<string, unknown> = { [String(op.ok.status)]: ok, ...errors };
      if (op.method === "put") responses["201"] = { ...ok, description: "created" };
      (paths[op.path] ??= {})[op.method] = {
        summary: op.summary,
        tags: [op.tag],
        operationId: `${op.method}${op.path.replace(/^\/admin\/api/, "").replace(/\{(\w+)\}/g, "By-$1").replace(/[^A-Za-z0-9]+(.)?/g, (_, ch: string | undefined) => (ch ? ch.toUpperCase() : ""))}`,
        parameters: [...params, ...queryParams],
        ...(op.body ? { requestBody: { required: true, content: { "application/json": { schema: component(op.body, components) } } } } : {}),
        responses,
      };
    }
    cached = {
      openapi: "3.1.0",
      info: {
        title: "MCP gateway admin API",
        version: "1.0.0",
        description: "Tenants, servers, groups, users and API keys of the MCP gateway (admins), and each signed-in user's own access and keys under /admin/api/me (anyone signed in). PUT creates (201) or replaces (200) and is idempotent. Server `headers` are write-only secrets. Changes reach MCP within 2 s.",
      },
      components: { schemas: components, securitySchemes: { apiKey: { type: "http", scheme: "bearer", description: "an admin's API key (on whoami and the self-service paths /admin/api/me*: any user's own)" }, session: { type: "apiKey", in: "cookie", name: "mcpgw_session", description: "an admin's browser session, set by the login at /auth/login (whoami and /admin/api/me*: any user's)" } } },
      security: [{ apiKey: [] }, { session: [] }],
      paths,
    };
  }
  return server ? { ...cached, servers: [{ url: server.replace(/\/$/, "") }] } : cached;
}
