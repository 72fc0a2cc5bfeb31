/**
 * One definition per admin API route: method, path, summary, tag, the zod schemas of its path
 * parameters, query and body, its answer, and the handler. `mountRoutes` mounts a table of them
 * (validating with those schemas before the handler runs) and openapi.ts builds the document
 * from the same tables, so a route cannot be served undocumented or documented unserved.
 * Why a small helper and not @hono/zod-openapi or hono-openapi: README, design notes.
 */
import type { Context } from "hono";
import type { z } from "zod";
import type { AdminApp, AdminHono } from "./app";
import { ApiError, parseOr400 } from "./errors";

type C = Context<AdminApp>;
type Shape = Record<string, z.ZodType>;
type Parsed<T> = T extends z.ZodType ? z.infer<T> : undefined;

/** What the handler receives, already validated. */
export interface RouteInput<P extends Shape, Q, B> {
  params: { [K in keyof P]: z.infer<P[K]> };
  query: Parsed<Q>;
  body: Parsed<B>;
}

export interface RouteSpec<P extends Shape, Q extends z.ZodObject | undefined, B extends z.ZodType | undefined> {
  method: "get" | "put" | "post" | "delete";
  /** OpenAPI form, `{name}` for a path parameter (mounted as Hono's `:name`). */
  path: string;
  summary: string;
  tag: string;
  /** One schema per `{name}` in the path, checked in this order (400 naming the parameter). */
  params?: P;
  /** Checked after the path parameters; empty values count as absent. */
  query?: Q;
  /** The JSON body (an empty body is `{}`), checked last. */
  body?: B;
  /** The success answer, for the document. */
  ok: { status: number; schema?: z.ZodType; description: string };
  /** Any signed-in user may call it (their own data); the rest of the API is for admins. */
  self?: boolean;
  handler: (c: C, input: RouteInput<P, Q, B>) => Response | Promise<Response>;
}

/** A route of a table, its types erased (the table holds routes of different shapes). */
export type Route = RouteSpec<Shape, z.ZodObject | undefined, z.ZodType | undefined> & {
  handler: (c: C, input: any) => Response | Promise<Response>;
};

/** Defines one route; throws at load time when a path parameter has no schema. */
export function defineRoute<
  P extends Shape = Record<never, z.ZodType>,
  Q extends z.ZodObject | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
>(spec: RouteSpec<P, Q, B>): Route {
  for (const [, name] of spec.path.matchAll(/\{(\w+)\}/g)) {
    if (!spec.params?.[name as string])
      throw new Error(`route ${spec.method} ${spec.path}: no schema for path parameter ${name}`);
  }
  return spec as unknown as Route;
}

/** The request's JSON body ({} when empty); 400 naming `(body)` when not JSON. */
export async function jsonBody(c: C): Promise<unknown> {
  const text = await c.req.text();
  if (!text.trim()) return {};
  if (!/^application\/(.+\+)?json\b/i.test(c.req.header("content-type") ?? "")) {
    throw new ApiError(400, "invalid_request", "(body): Content-Type must be application/json", "(body)");
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(400, "invalid_request", "(body): not valid JSON", "(body)");
  }
}

/** Mounts each route of `routes` on `app`: path parameters, then query, then body are validated before the handler. */
export function mountRoutes(app: AdminHono, routes: readonly Route[]): void {
  for (const r of routes) {
    app.on(r.method.toUpperCase(), r.path.replace(/\{(\w+)\}/g, ":$1"), async (c) => {
      const params: Record<string, unknown> = {};
      for (const [name, schema] of Object.entries(r.params ?? {}))
        params[name] = parseOr400(schema, c.req.param(name), name);
      const query = r.query
        ? parseOr400(r.query, Object.fromEntries(Object.entries(c.req.query()).filter(([, v]) => v !== "")))
        : undefined;
      const body = r.body ? parseOr400(r.body, await jsonBody(c)) : undefined;
      return r.handler(c, { params, query, body });
    });
  }
}
