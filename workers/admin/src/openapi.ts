/**
 * The OpenAPI 3.1 document of the admin API, generated from the route tables (route.ts
 * `defineRoute`: api.routes.ts, self.routes.tsx) and their zod schemas (`z.toJSONSchema`), so a
 * route cannot be served undocumented and validation and documentation cannot drift apart.
 */
import { z } from "zod";
import * as S from "./api.schema";
import { API_ROUTES } from "./api.routes";
import type { Route } from "./route";
import { SELF_API_ROUTES, WHOAMI_ROUTE } from "./self.routes";

/** Every operation the API serves, in the document's order: the very tables the app mounts. */
export const OPERATIONS: readonly Route[] = [WHOAMI_ROUTE, ...SELF_API_ROUTES, ...API_ROUTES];

const jsonSchema = (s: z.ZodType) =>
  z.toJSONSchema(s, { io: "input", target: "draft-2020-12", unrepresentable: "any", reused: "inline" }) as Record<
    string,
    unknown
  >;

/** Turns a schema into a self-contained JSON schema (its $defs lifted into components). */
function component(s: z.ZodType, components: Record<string, unknown>): Record<string, unknown> {
  const {
    $schema: _ignored,
    $defs,
    ...rest
  } = jsonSchema(s) as { $schema?: string; $defs?: Record<string, unknown> } & Record<string, unknown>;
  for (const [k, v] of Object.entries($defs ?? {})) components[k] = v;
  return JSON.parse(JSON.stringify(rest).replaceAll('"#/$defs/', '"#/components/schemas/'));
}

/** One parameter: its schema, and the schema's description and first example beside it. */
function parameter(name: string, where: "path" | "query", s: z.ZodType, components: Record<string, unknown>) {
  const schema = component(s, components);
  const example = Array.isArray(schema.examples) ? schema.examples[0] : undefined;
  return {
    name,
    in: where,
    // a path parameter always; a query parameter unless its schema takes its absence (optional, or a default)
    required: where === "path" || !s.safeParse(undefined).success,
    schema,
    ...(schema.description ? { description: schema.description } : {}),
    ...(example !== undefined ? { example } : {}),
  };
}

let cached: Record<string, unknown> | undefined;

/** The OpenAPI document; `server` is the public origin when known. */
export function openApiDocument(server?: string): Record<string, unknown> {
  if (!cached) {
    const components: Record<string, unknown> = {};
    const errorRef = component(S.ErrorOut, components);
    const paths: Record<string, Record<string, unknown>> = {};
    for (const op of OPERATIONS) {
      // path parameters in the path's order, each with its route's zod schema (defineRoute
      // guarantees one per `{name}`)
      const params = [...op.path.matchAll(/\{(\w+)\}/g)].map(([, name]) =>
        parameter(name!, "path", op.params![name!]!, components),
      );
      const queryParams = op.query
        ? Object.entries(op.query.shape).map(([name, s]) => parameter(name, "query", s as z.ZodType, components))
        : [];
      const errors: Record<string, unknown> = {
        "401": { description: "no valid credentials", content: { "application/json": { schema: errorRef } } },
        "403": {
          description: op.self
            ? op.method === "post"
              ? "a cross-site request, or the caller used an API key"
              : "a cross-site request"
            : "not an administrator, or a cross-site request",
          content: { "application/json": { schema: errorRef } },
        },
      };
      if (op.body || op.query || params.length)
        errors["400"] = {
          description: "invalid input; `field` names it",
          content: { "application/json": { schema: errorRef } },
        };
      if (params.length)
        errors["404"] = { description: "unknown id", content: { "application/json": { schema: errorRef } } };
      if (op.self && op.method === "post") {
        errors["404"] = {
          description: "the caller is not a stored user yet (an admin adds them)",
          content: { "application/json": { schema: errorRef } },
        };
        errors["409"] = {
          description: "too many live keys: revoke one first",
          content: { "application/json": { schema: errorRef } },
        };
      }
      if (!op.self && (op.method === "delete" || op.method === "put"))
        errors["409"] = {
          description: "conflicts with dependent rows",
          content: { "application/json": { schema: errorRef } },
        };
      const ok: Record<string, unknown> = { description: op.ok.description };
      if (op.ok.schema) ok.content = { "application/json": { schema: component(op.ok.schema, components) } };
      const responses: Record<string, unknown> = { [String(op.ok.status)]: ok, ...errors };
      if (op.method === "put") responses["201"] = { ...ok, description: "created" };
      (paths[op.path] ??= {})[op.method] = {
        summary: op.summary,
        tags: [op.tag],
        operationId: `${op.method}${op.path
          .replace(/^\/admin\/api/, "")
          .replace(/\{(\w+)\}/g, "By-$1")
          .replace(/[^A-Za-z0-9]+(.)?/g, (_, ch: string | undefined) => (ch ? ch.toUpperCase() : ""))}`,
        parameters: [...params, ...queryParams],
        ...(op.body
          ? {
              requestBody: {
                required: true,
                content: { "application/json": { schema: component(op.body, components) } },
              },
            }
          : {}),
        responses,
      };
    }
    cached = {
      openapi: "3.1.0",
      info: {
        title: "MCP gateway admin API",
        version: "1.0.0",
        description:
          "Tenants, servers, groups, users and API keys of the MCP gateway (admins), and each signed-in user's own access and keys under /admin/api/me (anyone signed in). PUT creates (201) or replaces (200) and is idempotent. Server `headers` are write-only secrets. Changes reach MCP within 2 s.",
      },
      components: {
        schemas: components,
        securitySchemes: {
          apiKey: {
            type: "http",
            scheme: "bearer",
            description: "an admin's API key (on whoami and the self-service paths /admin/api/me*: any user's own)",
          },
          session: {
            type: "apiKey",
            in: "cookie",
            name: "mcpgw_session",
            description:
              "an admin's browser session, set by the login at /auth/login (whoami and /admin/api/me*: any user's)",
          },
        },
      },
      security: [{ apiKey: [] }, { session: [] }],
      paths,
    };
  }
  return server ? { ...cached, servers: [{ url: server.replace(/\/$/, "") }] } : cached;
}
