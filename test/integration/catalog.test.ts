/**
 * The catalog worker against real upstreams: server-everything (Streamable HTTP) and the memory
 * server behind supergateway, real Postgres, the real worker under workerd (reached on its
 * internal socket, which the public edge never routes to).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServerHealth, UserCatalog } from "../../shared/catalog.schema";
import { startBridged, startEverything, type Upstream } from "../../scripts/lib/upstreams";
import { resolve } from "node:path";
import { ROOT } from "../../scripts/lib/workers";
import { startTestStack, type TestStack } from "../harness/stack";

let t: TestStack;
let everything: Upstream;
let memory: Upstream;

async function internal<T = unknown>(path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(t.internalUrl + path, init);
  return { status: res.status, body: (await res.json()) as T };
}
const catalog = (email: string) => internal<UserCatalog>(`/internal/catalog/${encodeURIComponent(email)}`);

beforeAll(async () => {
  [everything, memory] = await Promise.all([startEverything("everything"), startBridged("memory", resolve(ROOT, "node_modules/.bin/mcp-server-memory"))]);
  t = await startTestStack({ internalPort: 0 });
  const sql = t.db.sql;
  await sql`INSERT INTO tenants (id, name) VALUES ('acme', 'Acme'), ('globex', 'Globex')`;
  await sql`INSERT INTO servers (id, tenant_id, url) VALUES ('everything', 'acme', ${everything.url}), ('memory', 'globex', ${memory.url})`;
  await sql`INSERT INTO groups (name) VALUES ('acme-devs'), ('globex-all')`;
  await sql`INSERT INTO group_tenant_mapping (group_name, tenant_id) VALUES ('acme-devs', 'acme'), ('globex-all', 'globex')`;
  await t.userKey("dev@acme.test", { groups: ["acme-devs"] });
}, 120_000);
afterAll(async () => {
  await t?.stop();
  await Promise.all([everything?.proc.stop(), memory?.proc.stop()]);
});

describe("catalog snapshots", () => {
  it("lists server-everything's tools, prompts, resources and templates for a granted user", async () => {
    const { status, body } = await catalog("dev@acme.test");
    expect(status).toBe(200);
    expect(body.servers.map((s) => s.id)).toEqual(["everything"]);
  });
});
