/**
 * The catalog's upstream listing with @modelcontextprotocol/client 2.x, under workerd: it finds
 * each server's protocol era (server/discover first, then initialize, then HTTP+SSE), stores it
 * with the snapshot and serves it in its answers, remembers it (a recent legacy verdict skips the
 * probe) and probes again when the remembered era fails. Upstreams of both eras: the modern test
 * upstream (SDK 2.x server) modern-only and dual-era, a paging modern server, and the session-era
 * npm servers (server-everything, filesystem and memory behind supergateway, memory on HTTP+SSE).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CatalogServer, ServerHealth } from "../../shared/catalog.schema";
import { startModernUpstream, type ModernUpstream } from "../../scripts/lib/modern-upstream";
import { freePort } from "../../scripts/lib/ports";
import { startProcess, waitForPort, type Managed } from "../../scripts/lib/processes";
import { startBridged, startEverything, type Upstream } from "../../scripts/lib/upstreams";
import { ROOT } from "../../scripts/lib/workers";
import { startTestStack, type TestStack } from "../harness/stack";
import {
  startModernPagedUpstream,
  startRedirectingUpstream,
  startTinyUpstream,
  tool,
  type TinyUpstream,
} from "./catalog.fixture";

const bin = (n: string) => resolve(ROOT, "node_modules/.bin", n);
const SECRET = "catalog-era-s3cret";

let t: TestStack;
let modern: ModernUpstream;
let dual: ModernUpstream;
let everything: Upstream;
let memory: Upstream;
let files: Upstream;
let sse: { url: string; proc: Managed };
let paged: { url: string; stop(): Promise<void> };
let switchPort: number;
let legacyTiny: TinyUpstream;
let laterModern: ModernUpstream | undefined;
let redirecting: Awaited<ReturnType<typeof startRedirectingUpstream>>;

const ADMIN = "boss@era.test";

async function internal<T>(path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const res = await t.internal(path, init);
  return { status: res.status, body: (await res.json()) as T };
}
const serverOf = async (id: string) => {
  const r = await internal<CatalogServer>(`/internal/catalog/${encodeURIComponent(ADMIN)}/servers/${id}`);
  expect(r.status).toBe(200);
  return r.body;
};
const refresh = (id: string) => internal<ServerHealth>(`/internal/refresh/${id}`, { method: "POST" });
const names = (items: { name?: unknown }[]) => items.map((i) => String(i.name));
const methodsOf = (up: ModernUpstream) =>
  up.requests.map((r) => (r.body as { method?: string } | undefined)?.method).filter(Boolean);

/** The memory server behind supergateway's legacy HTTP+SSE output (GET /sse, POST /message). */
async function startSseMemory(): Promise<{ url: string; proc: Managed }> {
  const port = await freePort();
  const proc = startProcess("memory-sse", bin("supergateway"), [
    "--stdio",
    bin("mcp-server-memory"),
    "--outputTransport",
    "sse",
    "--port",
    String(port),
    "--logLevel",
    "none",
  ]);
  await waitForPort(port, proc);
  return { url: `http://127.0.0.1:${port}/sse`, proc };
}

const PAGED_TOOLS = [
  tool("p1"),
  tool("p2"),
  // x-mcp-header on a number parameter: invalid (2026-07-28), a client must leave the tool out
  {
    name: "bad_header",
    description: "invalid x-mcp-header",
    inputSchema: { type: "object", properties: { n: { type: "number", "x-mcp-header": "N" } } },
  },
  tool("p3"),
  { ...tool("p4"), "x-vendor": { kept: true } },
];

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "mcpgw-era-files-"));
  switchPort = await freePort();
  [modern, dual, everything, memory, files, sse, paged, legacyTiny] = await Promise.all([
    startModernUpstream({ eras: "modern" }),
    startModernUpstream({ eras: "dual" }),
    startEverything("everything"),
    startBridged("memory", bin("mcp-server-memory")),
    startBridged("files", `${bin("mcp-server-filesystem")} ${dir}`),
    startSseMemory(),
    startModernPagedUpstream(PAGED_TOOLS, 2),
    startTinyUpstream([tool("old")], [], switchPort),
  ]);
  redirecting = await startRedirectingUpstream();
  t = await startTestStack({ internalPort: 0 });
  const sql = t.db.sql;
  await sql`INSERT INTO tenants (id, name) VALUES ('lab', 'Lab')`;
  const secret = sql.json({ "X-Upstream-Secret": SECRET });
  await sql`INSERT INTO servers (id, tenant_id, url, transport, headers) VALUES
    ('modern', 'lab', ${modern.url}, 'streamable-http', ${secret}),
    ('dual', 'lab', ${dual.url}, 'streamable-http', ${sql.json({})}),
    ('everything', 'lab', ${everything.url}, 'streamable-http', ${sql.json({})}),
    ('memory', 'lab', ${memory.url}, 'streamable-http', ${sql.json({})}),
    ('files', 'lab', ${files.url}, 'streamable-http', ${sql.json({})}),
    ('fallback', 'lab', ${sse.url}, 'streamable-http', ${sql.json({})}),
    ('paged', 'lab', ${paged.url}, 'streamable-http', ${sql.json({})}),
    ('switch', 'lab', ${legacyTiny.url}, 'streamable-http', ${sql.json({})}),
    ('redirect', 'lab', ${redirecting.url}, 'streamable-http', ${secret})`;
  await t.userKey(ADMIN, { admin: true });
}, 180_000);

afterAll(async () => {
  await t?.stop();
  await Promise.all([
    modern?.stop(),
    dual?.stop(),
    everything?.proc.stop(),
    memory?.proc.stop(),
    files?.proc.stop(),
    sse?.proc.stop(),
    paged?.stop(),
    legacyTiny?.stop(),
    laterModern?.stop(),
    redirecting?.stop(),
  ]);
});

describe("a modern (2026-07-28) upstream", () => {
  it("is found modern by server/discover (no initialize) and listed completely: items, server info, instructions, capabilities, cache hints", async () => {
    const s = await serverOf("modern");
    expect(s.status).toMatchObject({ ok: true, error: null });
    expect(s).toMatchObject({
      era: "modern",
      detectedTransport: "streamable-http",
      protocolVersion: "2026-07-28",
      supportedVersions: ["2026-07-28"],
      serverInfo: { name: "mcp-gateway-modern-upstream", version: "1.0.0" },
      instructions: expect.stringContaining("gateway"),
      capabilities: {
        tools: { listChanged: true },
        resources: { subscribe: true, listChanged: true },
        prompts: { listChanged: true },
        completions: {},
      },
      cacheHints: {
        "server/discover": { ttlMs: 60000, cacheScope: "public" },
        "tools/list": { ttlMs: 60000, cacheScope: "public" },
        "prompts/list": { ttlMs: 60000, cacheScope: "public" },
      },
    });
    expect(Date.parse(s.eraCheckedAt!)).toBeGreaterThan(Date.now() - 60_000);
    expect(names(s.tools)).toEqual(
      expect.arrayContaining([
        "test_simple_text",
        "add",
        "query_region",
        "test_input_required_result_elicitation",
        "add_tool",
      ]),
    );
    // items as listed: the x-mcp-header annotation stays on the definition the gateway re-serves
    expect(s.tools.find((x) => x.name === "query_region")).toMatchObject({
      inputSchema: { properties: { region: { "x-mcp-header": "Region" } } },
    });
    expect(s.tools.find((x) => x.name === "add")).toHaveProperty("outputSchema");
    expect(names(s.prompts)).toEqual(expect.arrayContaining(["test_simple_prompt", "test_prompt_with_arguments"]));
    expect(s.resources.map((r) => r.uri)).toEqual(
      expect.arrayContaining(["test://static-text", "test://watched-resource"]),
    );
    expect(s.resourceTemplates.map((r) => r.uriTemplate)).toEqual(["test://template/{id}/data"]);
    const methods = methodsOf(modern);
    expect(methods[0]).toBe("server/discover");
    expect(methods).not.toContain("initialize");
    expect(methods).toEqual(
      expect.arrayContaining(["tools/list", "prompts/list", "resources/list", "resources/templates/list"]),
    );
    // the per-request headers of the 2026-07-28 transport, and the stored secret on every request
    const discover = modern.requests.find((r) => (r.body as { method?: string })?.method === "server/discover")!;
    expect(discover.headers).toMatchObject({ "mcp-protocol-version": "2026-07-28", "mcp-method": "server/discover" });
    expect(modern.requests.every((r) => r.headers["x-upstream-secret"] === SECRET)).toBe(true);
    expect(modern.requests.every((r) => r.headers["mcp-session-id"] === undefined)).toBe(true);
  });

  it("shows the era in /internal/status too", async () => {
    const { body } = await internal<{ servers: ServerHealth[] }>("/internal/status");
    const h = body.servers.find((x) => x.id === "modern")!;
    expect(h).toMatchObject({
      ok: true,
      era: "modern",
      detectedTransport: "streamable-http",
      protocolVersion: "2026-07-28",
      supportedVersions: ["2026-07-28"],
    });
    expect(h.counts.tools).toBeGreaterThan(20);
  });

  it("is listed in the modern era when it also speaks the session era (dual-era)", async () => {
    const s = await serverOf("dual");
    expect(s).toMatchObject({ era: "modern", protocolVersion: "2026-07-28", detectedTransport: "streamable-http" });
    expect(methodsOf(dual)).not.toContain("initialize");
    expect(dual.sessionCount()).toBe(0);
  });

  it("follows every page, keeps unknown fields and the list's ttlMs/cacheScope, and leaves out tools with invalid x-mcp-header", async () => {
    const s = await serverOf("paged");
    expect(s.status).toMatchObject({ ok: true, error: null });
    // announced, not implemented (404 + -32601 on 2026-07-28): empty, not a failed listing
    expect(s.prompts).toEqual([]);
    expect(s.resources).toEqual([]);
    expect(s.resourceTemplates).toEqual([]);
    expect(s.era).toBe("modern");
    expect(names(s.tools)).toEqual(["p1", "p2", "p3", "p4"]);
    expect(s.tools[3]).toMatchObject({ "x-vendor": { kept: true } });
    expect(s.cacheHints).toMatchObject({ "tools/list": { ttlMs: 5000, cacheScope: "private" } });
    expect(s.serverInfo).toEqual({ name: "paged-modern", version: "2.0.0" });
    expect(s.instructions).toBe("pages of tools");
  });
});

describe("session-era upstreams (npm servers)", () => {
  it("are found legacy on Streamable HTTP after the probe, with the version initialize negotiated", async () => {
    for (const id of ["everything", "memory", "files"]) {
      const s = await serverOf(id);
      expect(s.status.ok, id).toBe(true);
      expect(s, id).toMatchObject({ era: "legacy", detectedTransport: "streamable-http", cacheHints: null });
      expect(s.protocolVersion, id).toMatch(/^2025-\d{2}-\d{2}$/);
      expect(s.supportedVersions, id).toEqual([s.protocolVersion]);
      expect(s.tools.length, id).toBeGreaterThan(0);
    }
    expect(names((await serverOf("files")).tools)).toEqual(expect.arrayContaining(["read_file", "list_directory"]));
    expect(names((await serverOf("everything")).tools)).toEqual(
      expect.arrayContaining(["echo", "trigger-sampling-request"]),
    );
  });

  it("is found on HTTP+SSE when the row says streamable-http but the server only speaks the old transport", async () => {
    const s = await serverOf("fallback");
    expect(s.status).toMatchObject({ ok: true, error: null });
    expect(s).toMatchObject({ transport: "streamable-http", era: "legacy", detectedTransport: "sse" });
    expect(names(s.tools)).toEqual(expect.arrayContaining(["create_entities", "read_graph"]));
  });
});

describe("the remembered era", () => {
  it("skips the probe for a recent legacy verdict, and probes again when the row changes", async () => {
    const first = await refresh("switch");
    expect(first.body).toMatchObject({ ok: true, era: "legacy", detectedTransport: "streamable-http" });
    const checkedAt = first.body.eraCheckedAt;
    legacyTiny.methods.length = 0;
    const again = await refresh("switch");
    expect(again.body).toMatchObject({ ok: true, era: "legacy", eraCheckedAt: checkedAt });
    expect(legacyTiny.methods[0]).toBe("initialize");
    expect(legacyTiny.methods).not.toContain("server/discover");
    // a changed row (here its headers) is a new configuration: probed again
    await t.db.sql`UPDATE servers SET headers = ${t.db.sql.json({ "X-Changed": "1" })} WHERE id = 'switch'`;
    legacyTiny.methods.length = 0;
    const changed = await refresh("switch");
    expect(changed.body).toMatchObject({ ok: true, era: "legacy" });
    expect(legacyTiny.methods[0]).toBe("server/discover");
    expect(Date.parse(changed.body.eraCheckedAt!)).toBeGreaterThan(Date.parse(checkedAt!));
  });

  it("probes again at once when the remembered era fails (the server was upgraded to modern-only)", async () => {
    const before = await refresh("switch");
    expect(before.body.era).toBe("legacy");
    await legacyTiny.stop();
    laterModern = await startModernUpstream({ eras: "modern", port: switchPort });
    const after = await refresh("switch");
    expect(after.body).toMatchObject({
      ok: true,
      error: null,
      era: "modern",
      protocolVersion: "2026-07-28",
      supportedVersions: ["2026-07-28"],
    });
    expect(Date.parse(after.body.eraCheckedAt!)).toBeGreaterThan(Date.parse(before.body.eraCheckedAt!));
    // the remembered assumption was tried first (and refused), then the probe decided
    expect(methodsOf(laterModern).slice(0, 2)).toEqual(["initialize", "server/discover"]);
    const s = await serverOf("switch");
    expect(names(s.tools)).toContain("test_simple_text");
    expect(s.era).toBe("modern");
  });
});

describe("secrets and redirects", () => {
  it("never follows a redirect while carrying the server's stored headers, not even within the origin", async () => {
    const h = await refresh("redirect");
    expect(h.body.ok).toBe(false);
    expect(h.body.error).toMatch(/redirect \(HTTP 307 to http:\/\/127\.0\.0\.1:\d+\); redirects are not followed/);
    expect(h.body.error).not.toContain(SECRET);
    expect(redirecting.hits).toBeGreaterThan(0);
    // the redirect target never saw a request, so never the secret
    expect(redirecting.moved).toEqual([]);
    const s = await serverOf("redirect");
    expect(s.status.ok).toBe(false);
    expect(s.era).toBeNull();
  });
});
