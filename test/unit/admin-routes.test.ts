// The admin API's one definition per route (workers/admin/src/route.ts): the app validates with
// the route's own schemas before its handler runs, and the document is built from the same table.
import { describe, expect, it } from "vitest";
import { z } from "zod";
import * as S from "../../workers/admin/src/api.schema";
import { createAdminApp } from "../../workers/admin/src/app";
import { adminOnError } from "../../workers/admin/src/error-handler";
import { OPERATIONS, openApiDocument } from "../../workers/admin/src/openapi";
import { defineRoute, mountRoutes } from "../../workers/admin/src/route";

function appWith(seen: unknown[]) {
  const app = createAdminApp();
  app.onError(adminOnError);
  mountRoutes(app, [
    defineRoute({
      method: "put",
      path: "/admin/api/things/{id}",
      summary: "a thing",
      tag: "test",
      params: { id: S.Slug },
      query: z.object({ n: z.coerce.number().int().max(5).optional() }),
      body: S.TenantBody,
      ok: { status: 200, description: "the thing" },
      handler: (c, input) => {
        seen.push(input);
        return c.json({ ok: true });
      },
    }),
  ]);
  return app;
}

const put = (app: ReturnType<typeof appWith>, path: string, body: string, type = "application/json") =>
  app.request(path, { method: "PUT", body, headers: { "content-type": type } });

describe("admin routes: defineRoute + mountRoutes", () => {
  it("validates path parameters, then query, then body with the route's schemas, and hands the handler the parsed values", async () => {
    const seen: unknown[] = [];
    const app = appWith(seen);
    // a bad id is named first even when the query and the body are bad too
    let res = await put(app, "/admin/api/things/-bad?n=99", "[]");
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: "invalid_request", field: "id" });
    res = await put(app, "/admin/api/things/ok?n=99", "[]");
    expect(await res.json()).toMatchObject({ field: "n" });
    res = await put(app, "/admin/api/things/ok?n=2", JSON.stringify({ name: 7 }));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ field: "name" });
    res = await put(app, "/admin/api/things/ok", JSON.stringify({ name: "A" }), "text/plain");
    expect(await res.json()).toMatchObject({ field: "(body)" });
    expect(seen).toEqual([]);
    res = await put(app, "/admin/api/things/ok?n=3&unused=", JSON.stringify({ name: "A" }));
    expect(res.status).toBe(200);
    expect(seen).toEqual([{ params: { id: "ok" }, query: { n: 3 }, body: { name: "A" } }]);
  });

  it("refuses at definition a path parameter without a schema", () => {
    expect(() =>
      defineRoute({
        method: "get",
        path: "/admin/api/things/{id}/{other}",
        summary: "",
        tag: "test",
        params: { id: S.Slug },
        ok: { status: 200, description: "" },
        handler: (c) => c.body(null),
      }),
    ).toThrow(/other/);
  });

  it("documents exactly the routes of the table, with their summaries and schemas", () => {
    const doc = openApiDocument() as {
      paths: Record<
        string,
        Record<string, { summary: string; requestBody?: unknown; parameters: { name: string; in: string }[] }>
      >;
    };
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`));
    expect(documented.sort()).toEqual(OPERATIONS.map((r) => `${r.method} ${r.path}`).sort());
    for (const r of OPERATIONS) {
      const op = doc.paths[r.path]![r.method]!;
      expect(op.summary).toBe(r.summary);
      expect(Boolean(op.requestBody), `${r.method} ${r.path} body`).toBe(Boolean(r.body));
      expect(op.parameters.filter((p) => p.in === "query").map((p) => p.name)).toEqual(
        Object.keys(r.query?.shape ?? {}),
      );
      expect(op.parameters.filter((p) => p.in === "path").map((p) => p.name)).toEqual(Object.keys(r.params ?? {}));
    }
  });

  it("describes every path parameter of every route with the route's own schema and a description", () => {
    type Param = { name: string; in: string; required: boolean; description?: string; example?: unknown; schema: any };
    const doc = openApiDocument() as { paths: Record<string, Record<string, { parameters: Param[] }>> };
    const pathParams = (path: string, method: string) =>
      doc.paths[path]![method]!.parameters.filter((p) => p.in === "path");
    let described = 0;
    for (const r of OPERATIONS) {
      const where = `${r.method} ${r.path}`;
      const params = pathParams(r.path, r.method);
      expect(
        params.map((p) => p.name),
        where,
      ).toEqual([...r.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]));
      for (const p of params) {
        const route = r.params![p.name]!;
        const { $schema: _, ...own } = z.toJSONSchema(route, {
          io: "input",
          target: "draft-2020-12",
          unrepresentable: "any",
          reused: "inline",
        });
        expect(p.schema, `${where} {${p.name}}`).toEqual(own);
        expect(p.required, `${where} {${p.name}}`).toBe(true);
        expect(["string", "integer"], `${where} {${p.name}} type`).toContain(p.schema.type);
        expect(p.description, `${where} {${p.name}} description`).toMatch(/\w{3,} \w{3,}/);
        if (p.example !== undefined)
          expect(route.safeParse(p.example).success, `${where} {${p.name}} example`).toBe(true);
        described++;
      }
    }
    expect(described).toBeGreaterThanOrEqual(30);

    // what the names alone used to hide: a change is a number, a tool an upstream name (not a slug)
    const [, change] = pathParams("/admin/api/servers/{id}/changes/{change}/approve", "post");
    expect(change!.schema).toMatchObject({ type: "integer", minimum: 1 });
    const [server, tool] = pathParams("/admin/api/servers/{id}/overrides/{tool}", "put");
    expect(server!.schema).toMatchObject({ type: "string", pattern: "^[a-z0-9][a-z0-9-]{0,31}$" });
    expect(tool!.schema).toMatchObject({ type: "string", minLength: 1, maxLength: 128 });
    expect(tool!.schema.pattern).not.toBe(server!.schema.pattern);
    expect(tool!.description).toMatch(/percent-encoded/);
    // a group name is case-insensitive, so the document does not refuse upper case
    const [group] = pathParams("/admin/api/groups/{name}", "put");
    expect(group!.schema.pattern).toBeUndefined();
    expect(S.PathParam.group.parse("MCP-Admin")).toBe("mcp-admin");
    const [email] = pathParams("/admin/api/users/{email}", "put");
    expect(email!.example).toBe("alice@example.com");
  });
});
