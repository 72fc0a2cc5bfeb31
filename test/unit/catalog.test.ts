import { describe, expect, it } from "vitest";
import type { Access, AccessServer } from "../../shared/repos/access.repo";
import type { Snapshot, StatusRow } from "../../shared/repos/catalog.repo";
import type { ServerRow } from "../../shared/schemas";
import { serverEntry } from "../../workers/catalog/src/catalog";
import { FAILED_RETRY_SECONDS, refreshNeed } from "../../workers/catalog/src/refresh";
import {
  ERA_REPROBE_MS,
  noRedirectFetch,
  RedirectRefused,
  trustedHint,
} from "../../workers/catalog/src/upstream.client";

const t0 = new Date("2026-01-01T00:00:00Z");
const server = (over: Partial<ServerRow> = {}): ServerRow => ({
  id: "gh",
  tenant_id: "acme",
  url: "http://up/mcp",
  transport: "streamable-http",
  headers: { Authorization: "Bearer upstream" },
  enabled: true,
  description: "",
  created_at: t0,
  updated_at: t0,
  ...over,
});
const status = (over: Partial<StatusRow> = {}): StatusRow => ({
  server_id: "gh",
  ok: true,
  error: null,
  protocol_version: "2025-11-25",
  server_info: { name: "gh", version: "1" },
  capabilities: { tools: {} },
  instructions: null,
  tool_count: 3,
  latency_ms: 5,
  refreshed_at: new Date(t0.getTime() + 1000),
  last_ok_at: new Date(t0.getTime() + 1000),
  era: "legacy",
  transport_detected: "streamable-http",
  supported_versions: ["2025-11-25"],
  era_checked_at: new Date(t0.getTime() + 1000),
  cache_hints: null,
  ...over,
});

describe("refresh policy", () => {
  const now = t0.getTime() + 10_000;
  it("refreshes inline what has no snapshot or changed since, in the background what is old", () => {
    expect(refreshNeed(server(), undefined, 300, now)).toBe("missing");
    expect(refreshNeed(server({ updated_at: new Date(t0.getTime() + 2000) }), status(), 300, now)).toBe("changed");
    expect(refreshNeed(server(), status(), 5, now)).toBe("old");
    expect(refreshNeed(server(), status(), 300, now)).toBeNull();
    // a failed listing is retried sooner than a good one is refreshed
    expect(refreshNeed(server(), status({ ok: false }), 300, now)).toBeNull();
    expect(refreshNeed(server(), status({ ok: false }), 300, now + FAILED_RETRY_SECONDS * 1000)).toBe("old");
    expect(refreshNeed(server(), status(), 300, now + FAILED_RETRY_SECONDS * 1000)).toBeNull();
  });
});

describe("a user's server entry", () => {
  const snap: Snapshot = {
    version: 7,
    status: new Map([["gh", status()]]),
    items: new Map([
      [
        "gh",
        {
          tool: [{ name: "read_issue" }, { name: "delete_repo" }, { name: "repo.list" }, { name: "gh__x" }],
          prompt: [{ name: "triage" }],
          resource: [{ uri: "gh://a" }],
          resource_template: [{ uriTemplate: "gh://{id}" }],
        },
      ],
    ]),
  };
  const entry: AccessServer = {
    server: server(),
    grants: [{ group: "devs", tenant: "acme" }],
    rules: [{ group_name: "devs", server_id: "gh", tool: "delete_*", effect: "deny" }],
  };
  const user = { isAdmin: false } as Access;

  it("filters tools by the rules and keeps prompts, resources and templates", () => {
    const e = serverEntry(user, entry, snap, 300, t0.getTime() + 2000);
    expect(e.tools.map((x) => x.name)).toEqual(["read_issue", "repo.list", "gh__x"]);
    expect(e).toMatchObject({
      id: "gh",
      tenant: "acme",
      credentials: { version: expect.any(String) },
      protocolVersion: "2025-11-25",
    });
    // the secret headers never travel in a catalog answer: only whether there are any, and a version
    expect(e).not.toHaveProperty("headers");
    expect(JSON.stringify(e)).not.toContain("Bearer upstream");
    expect(
      serverEntry(user, { ...entry, server: server({ headers: {} }) }, snap, 300, t0.getTime()).credentials,
    ).toBeNull();
    expect(
      serverEntry(
        user,
        { ...entry, server: server({ headers: { Authorization: "Bearer other" } }) },
        snap,
        300,
        t0.getTime(),
      ).credentials!.version,
    ).not.toBe(e.credentials!.version);
    expect(e.prompts).toHaveLength(1);
    expect(e.resources).toHaveLength(1);
    expect(e.resourceTemplates).toHaveLength(1);
    expect(e.status).toMatchObject({ ok: true, stale: false, nameConflicts: [] });
    expect(serverEntry({ isAdmin: true } as Access, entry, snap, 300).tools).toHaveLength(4);
  });

  it("flags failing and old snapshots as stale, and a server never listed as not refreshed yet", () => {
    const failing: Snapshot = {
      ...snap,
      status: new Map([["gh", status({ ok: false, error: "timed out after 10000 ms" })]]),
    };
    expect(serverEntry(user, entry, failing, 300, t0.getTime() + 2000).status).toMatchObject({
      ok: false,
      stale: true,
      error: "timed out after 10000 ms",
    });
    expect(serverEntry(user, entry, snap, 1, t0.getTime() + 5000).status.stale).toBe(true);
    const none: Snapshot = { version: 1, status: new Map(), items: new Map() };
    expect(serverEntry(user, entry, none, 300).status).toMatchObject({
      ok: false,
      error: "not refreshed yet",
      refreshedAt: null,
      stale: true,
    });
    expect(serverEntry(user, entry, none, 300).tools).toEqual([]);
  });
});

describe("the upstream's era in a server entry", () => {
  const entry: AccessServer = { server: server(), grants: [{ group: "devs", tenant: "acme" }], rules: [] };
  const items = { tool: [], prompt: [], resource: [], resource_template: [] };
  it("carries the detected era, transport, versions and cache hints, null before the first listing", () => {
    const modern = status({
      era: "modern",
      protocol_version: "2026-07-28",
      supported_versions: ["2026-07-28"],
      transport_detected: "streamable-http",
      cache_hints: { "tools/list": { ttlMs: 60000, cacheScope: "public" } },
    });
    const e = serverEntry(
      { isAdmin: true } as Access,
      entry,
      { version: 2, status: new Map([["gh", modern]]), items: new Map([["gh", items]]) },
      300,
      t0.getTime() + 2000,
    );
    expect(e).toMatchObject({
      era: "modern",
      detectedTransport: "streamable-http",
      protocolVersion: "2026-07-28",
      supportedVersions: ["2026-07-28"],
      eraCheckedAt: modern.era_checked_at!.toISOString(),
      cacheHints: { "tools/list": { ttlMs: 60000, cacheScope: "public" } },
    });
    const none = serverEntry(
      { isAdmin: true } as Access,
      entry,
      { version: 1, status: new Map(), items: new Map() },
      300,
    );
    expect(none).toMatchObject({
      era: null,
      detectedTransport: null,
      protocolVersion: null,
      supportedVersions: null,
      eraCheckedAt: null,
      cacheHints: null,
    });
  });
});

describe("which remembered era the lister trusts", () => {
  const target = { id: "gh", url: "http://up/mcp", transport: "streamable-http" as const, headers: {} };
  const now = t0.getTime();
  it("skips the probe only for a recent legacy verdict; a modern, old or mismatched one is probed again", () => {
    const legacy = { era: "legacy" as const, transport: "streamable-http" as const, checkedAt: new Date(now - 60_000) };
    expect(trustedHint(legacy, target, now)).toEqual(legacy);
    expect(trustedHint({ ...legacy, checkedAt: new Date(now - ERA_REPROBE_MS - 1) }, target, now)).toBeNull();
    expect(trustedHint({ ...legacy, era: "modern" }, target, now)).toBeNull();
    expect(trustedHint(null, target, now)).toBeNull();
    // the row says sse but the remembered verdict is Streamable HTTP: the row changed, probe
    expect(trustedHint(legacy, { ...target, transport: "sse" }, now)).toBeNull();
    expect(trustedHint({ ...legacy, transport: "sse" }, { ...target, transport: "sse" }, now)).toMatchObject({
      transport: "sse",
    });
  });
});

describe("redirects while listing", () => {
  it("are never followed: a 3xx fails the request, naming only the target's origin", async () => {
    const seen: RequestInit[] = [];
    const base = async (_url: string | URL, init?: RequestInit) => {
      seen.push(init ?? {});
      return new Response(null, { status: 307, headers: { location: "https://elsewhere.example/steal?x=1" } });
    };
    const f = noRedirectFetch(base);
    const err = await f("http://up/mcp", { method: "POST", headers: { authorization: "Bearer secret" } }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RedirectRefused);
    expect((err as Error).message).toContain("HTTP 307 to https://elsewhere.example");
    expect((err as Error).message).not.toContain("steal");
    expect(seen).toHaveLength(1);
    expect(seen[0]!.redirect).toBe("manual");
    const ok = await noRedirectFetch(async () => new Response("{}", { status: 200 }))("http://up/mcp");
    expect(ok.status).toBe(200);
  });
});
