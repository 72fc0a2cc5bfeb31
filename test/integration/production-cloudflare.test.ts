/**
 * The Cloudflare path: every worker bundles with `wrangler deploy --dry-run` (the global setup runs
 * it for each wrangler.toml, into MCPGW_DIST), and each wrangler.toml carries what a real
 * `wrangler deploy` needs: a unique name, an entry that exists, a compatibility date the bundled
 * workerd supports, nodejs_compat (postgres.js needs node:net and friends), service bindings that
 * name deployed workers, and no secret values (those go in with `wrangler secret put`).
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parse } from "smol-toml";
import { describe, expect, it } from "vitest";
import { DIST } from "../../scripts/lib/build";
import { ROOT, WORKER_NAMES, workerSpec } from "../../scripts/lib/workers";

const tomls = WORKER_NAMES.map((name) => {
  const spec = workerSpec(name);
  return { name, spec, toml: parse(readFileSync(resolve(ROOT, spec.config), "utf8")) as Record<string, any> };
});

describe("wrangler deploy --dry-run of every worker", () => {
  it.each(WORKER_NAMES)("%s has a bundle", (name) => {
    const index = resolve(DIST, name, "index.js");
    expect(existsSync(index)).toBe(true);
    expect(statSync(index).size).toBeGreaterThan(1000);
    // an ES module worker with a default export (what workerd and Cloudflare load)
    expect(readFileSync(index, "utf8")).toMatch(/export\s*\{[^}]*\bdefault\b[^}]*\}|export default/);
  });

  it("each wrangler.toml has what Cloudflare needs", () => {
    const names = new Set<string>();
    const workerdDate = JSON.parse(
      readFileSync(resolve(ROOT, "node_modules/workerd/package.json"), "utf8"),
    ).version.split(".")[1] as string;
    for (const { name, spec, toml } of tomls) {
      expect(toml.name, name).toMatch(/^mcp-gateway(-[a-z]+)?$/);
      expect(names.has(toml.name), `${toml.name} is unique`).toBe(false);
      names.add(toml.name);
      expect(existsSync(resolve(ROOT, dirname(spec.config), toml.main)), `${name} main`).toBe(true);
      expect(toml.compatibility_date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      // not newer than the runtime the tests and containers use (workerd 1.YYYYMMDD.x)
      expect(toml.compatibility_date.replace(/-/g, "") <= workerdDate, `${name} compatibility_date`).toBe(true);
      expect(toml.compatibility_flags).toContain("nodejs_compat");
      // variables are read from the environment / secrets, never written into the config
      for (const key of Object.keys(toml.vars ?? {}))
        expect(key, `${name} [vars]`).not.toMatch(/SECRET|PASSWORD|DATABASE_URL|_KEY$/);
    }
    for (const { name, toml } of tomls) {
      for (const s of (toml.services ?? []) as { binding: string; service: string }[]) {
        expect(names.has(s.service), `${name}: binding ${s.binding} -> ${s.service}`).toBe(true);
      }
    }
  });

  it("each worker with a Postgres pool binds, declares and exports its PgPool Durable Object", () => {
    const pooled = tomls.filter(({ toml }) =>
      (toml.durable_objects?.bindings ?? []).some((b: { name: string }) => b.name === "PG_POOL"),
    );
    // the workers on the MCP hot path keep their connections in a pool
    expect(pooled.map((p) => p.name).sort()).toEqual(["auth", "catalog", "mcp"]);
    for (const { name, toml } of pooled) {
      const binding = (toml.durable_objects.bindings as { name: string; class_name: string }[]).find(
        (b) => b.name === "PG_POOL",
      )!;
      // a class Cloudflare can create: declared by a migration (SQLite-backed, what new classes get)
      const declared = (toml.migrations ?? []).flatMap(
        (m: { new_sqlite_classes?: string[] }) => m.new_sqlite_classes ?? [],
      );
      expect(declared, `${name} migrations`).toContain(binding.class_name);
      expect(readFileSync(resolve(DIST, name, "index.js"), "utf8"), `${name} exports ${binding.class_name}`).toMatch(
        new RegExp(`export\\s*\\{[^}]*\\b${binding.class_name}\\b`),
      );
    }
  });
});
