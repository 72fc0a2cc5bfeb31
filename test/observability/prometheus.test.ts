/**
 * Issue 16 with a real Prometheus (Debian's `prometheus`; `npm run test:observability`,
 * test/observability/run.ts): the observability profile's compose/observability/prometheus.yml,
 * with only its targets and token file rewritten to this stack's loopback sockets (one per
 * worker, as each container serves its WORKER_PORTS port) and a 1-second scrape interval, scrapes
 * the gateway while real MCP clients work through it. Then every query of the provisioned Grafana
 * dashboard is evaluated through Prometheus' HTTP API and must return data, and every target must
 * be healthy (the METRICS_TOKEN credential works on each worker's /metrics).
 *
 * The load is real and includes the failures the dashboard's error panels show: an upstream
 * (server-everything behind a proxy the test switches to answering 502), a user over the rate
 * limit, an identity provider nobody listens on (the auth worker's 502 on the OAuth metadata),
 * and an OTLP endpoint nobody listens on (spans dropped, collector unreachable).
 */
import { readFileSync, readdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { freePort } from "../../scripts/lib/ports";
import { startEverything, type Upstream } from "../../scripts/lib/upstreams";
import { startPrometheus, type Prometheus } from "../harness/prometheus";
import { startTestStack, type TestStack } from "../harness/stack";
import { rawInitialize, rawPost } from "../integration/mcp.fixture";

const ROOT = resolve(import.meta.dirname, "../..");
const DIR = resolve(ROOT, "compose/observability");
const METRICS_TOKEN = "metrics-token-for-the-prometheus-test-0123456789";
const WORKERS = ["auth", "catalog", "mcp", "admin"] as const;
/**
 * What `$__rate_interval` becomes. Grafana makes it at least four scrape intervals; ten of the
 * test's 1-second scrapes here, so a scrape delayed on a loaded machine never leaves a window
 * with fewer than the two samples rate() needs.
 */
const RATE_INTERVAL = "10s";

let t: TestStack;
let up: Upstream;
let flaky: Proxy;
let prom: Prometheus;
/** API keys: session-era users taking turns (each stays under the rate limit), a 2026-07-28 user, one over the limit. */
const keys = { session: [] as string[], modern: "", heavy: "" };

interface Proxy {
  url: string;
  /** When set, every request gets this HTTP status instead of reaching the upstream. */
  failWith: number | null;
  close(): Promise<void>;
}

/** A reverse proxy in front of a real upstream that the test can switch to failing. */
async function startProxy(target: string): Promise<Proxy> {
  const p: Proxy = { url: "", failWith: null, close: async () => {} };
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (p.failWith) {
      res.writeHead(p.failWith, { "content-type": "text/plain" }).end("upstream switched off by the test");
      return;
    }
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers))
      if (typeof v === "string" && k !== "host" && k !== "content-length") headers.set(k, v);
    try {
      const answer = await fetch(target, {
        method: req.method,
        headers,
        body: req.method === "POST" ? Buffer.concat(chunks) : undefined,
      });
      res.writeHead(answer.status, Object.fromEntries(answer.headers));
      if (answer.body) Readable.fromWeb(answer.body as any).pipe(res);
      else res.end();
    } catch {
      res.writeHead(502).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  p.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
  p.close = () => new Promise((r) => server.close(() => r()));
  return p;
}

/** The profile's prometheus.yml with its targets and token file pointed at this stack; the rest kept. */
function testConfig(dir: string): string {
  const cfg = parseYaml(readFileSync(resolve(DIR, "prometheus.yml"), "utf8")) as any;
  cfg.global.scrape_interval = "1s";
  cfg.global.evaluation_interval = "1s";
  expect(cfg.scrape_configs).toHaveLength(1);
  const job = cfg.scrape_configs[0];
  expect(job.authorization.credentials_file).toBe("/prometheus/metrics_token");
  job.authorization.credentials_file = `${dir}/metrics_token`;
  // Docker's DNS names (one A record per replica) become this stack's sockets, one per worker
  const names = job.dns_sd_configs.map((d: { names: string[] }) => d.names[0]);
  expect([...names].sort()).toEqual([...WORKERS].sort());
  job.static_configs = names.map((n: (typeof WORKERS)[number]) => ({ targets: [new URL(t.workerUrls[n]!).host] }));
  delete job.dns_sd_configs;
  return stringifyYaml(cfg);
}

/** Every query of the provisioned dashboards, with Grafana's variables replaced. */
function dashboardQueries(): { panel: string; expr: string }[] {
  const out: { panel: string; expr: string }[] = [];
  for (const file of readdirSync(resolve(DIR, "grafana/dashboards")).filter((f) => f.endsWith(".json"))) {
    const d = JSON.parse(readFileSync(resolve(DIR, "grafana/dashboards", file), "utf8"));
    for (const p of d.panels)
      for (const target of p.targets)
        out.push({
          panel: `${file}: ${p.title}`,
          expr: target.expr
            .replaceAll("$__rate_interval", RATE_INTERVAL)
            .replaceAll("$__interval", "1s")
            .replaceAll("$__range", "5m"),
        });
  }
  return out;
}

const meta = {
  "io.modelcontextprotocol/protocolVersion": "2026-07-28",
  "io.modelcontextprotocol/clientCapabilities": {},
  "io.modelcontextprotocol/clientInfo": { name: "prometheus-test", version: "1" },
};

/** One round of real clients: a session-era client, a 2026-07-28 client, a failing upstream, an over-limit user, the IdP down. */
async function round(i: number): Promise<void> {
  const key = keys.session[i % keys.session.length]!;
  // session era: initialize, a tool call, the list, DELETE (sessions opened and ended)
  const init = await rawInitialize(t.url, "/mcp", key);
  expect(init.status).toBe(200);
  const s = { "mcp-session-id": init.session! };
  const call = await rawPost(
    t.url,
    "/mcp",
    key,
    {
      jsonrpc: "2.0",
      id: 2,
      method: "tools/call",
      params: { name: "tools__echo", arguments: { message: `round ${i}` } },
    },
    s,
  );
  expect(call.body?.result?.content?.[0]?.text, JSON.stringify(call.body)).toBe(`Echo: round ${i}`);
  await rawPost(t.url, "/mcp", key, { jsonrpc: "2.0", id: 3, method: "tools/list", params: {} }, s);
  // the upstream behind `flaky` answers 502 now: a tool error and an upstream error
  const bad = await rawPost(
    t.url,
    "/mcp",
    key,
    { jsonrpc: "2.0", id: 4, method: "tools/call", params: { name: "flaky__echo", arguments: { message: "x" } } },
    s,
  );
  expect(bad.body?.error ?? bad.body?.result?.isError, JSON.stringify(bad.body)).toBeTruthy();
  const end = await fetch(`${t.url}/mcp`, { method: "DELETE", headers: { authorization: `Bearer ${key}`, ...s } });
  await end.body?.cancel();
  // 2026-07-28: stateless
  const modern = await rawPost(
    t.url,
    "/mcp/tools",
    keys.modern,
    {
      jsonrpc: "2.0",
      id: 5,
      method: "tools/call",
      params: { name: "echo", arguments: { message: "modern" }, _meta: meta },
    },
    { "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "echo" },
  );
  expect(JSON.stringify(modern.body), JSON.stringify(modern.body)).toContain("modern");
  // the identity provider is unreachable: the auth worker answers its OAuth metadata with 502
  const meta502 = await fetch(`${t.url}/.well-known/oauth-authorization-server`);
  expect(meta502.status).toBe(502);
  await meta502.body?.cancel();
}

/** More requests than RATE_LIMIT_PER_MINUTE from one user: some are refused with 429. */
async function overLimit(): Promise<number> {
  let refused = 0;
  for (let batch = 0; batch < 6; batch++) {
    const statuses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        rawPost(
          t.url,
          "/mcp/tools",
          keys.heavy,
          { jsonrpc: "2.0", id: i, method: "tools/list", params: { _meta: meta } },
          { "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/list" },
        ).then((r) => r.status),
      ),
    );
    refused += statuses.filter((s) => s === 429).length;
  }
  return refused;
}

beforeAll(async () => {
  up = await startEverything("prom-tools");
  flaky = await startProxy(up.url);
  const nobody = await freePort(); // nobody listens here: the IdP and the OTLP collector are "down"
  t = await startTestStack({
    workerSockets: [...WORKERS],
    localIdp: false,
    env: {
      METRICS_TOKEN,
      RATE_LIMIT_PER_MINUTE: "100",
      OIDC_ISSUER: `http://127.0.0.1:${nobody}`,
      OIDC_CLIENT_ID: "gateway",
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${nobody}`,
      OTEL_BSP_SCHEDULE_DELAY: "200",
    },
  });
  const sql = t.db.sql;
  await sql`INSERT INTO tenants (id, name) VALUES ('acme', 'Acme')`;
  await sql`INSERT INTO servers (id, tenant_id, url) VALUES ('tools', 'acme', ${up.url}), ('flaky', 'acme', ${flaky.url})`;
  await sql`INSERT INTO groups (name) VALUES ('eng')`;
  await sql`INSERT INTO group_tenant_mapping (group_name, tenant_id) VALUES ('eng', 'acme')`;
  for (const name of ["dana", "dirk", "doro", "dora"])
    keys.session.push(await t.userKey(`${name}.private@example.test`, { groups: ["eng"] }));
  keys.modern = await t.userKey("erik.private@example.test", { groups: ["eng"] });
  keys.heavy = await t.userKey("fay.private@example.test", { groups: ["eng"] });
  // the catalog lists `flaky` while it still works, then the test switches it off
  const deadline = Date.now() + 30_000;
  for (;;) {
    const init = await rawInitialize(t.url, "/mcp", keys.modern);
    const list = await rawPost(
      t.url,
      "/mcp",
      keys.modern,
      { jsonrpc: "2.0", id: 2, method: "tools/list", params: {} },
      { "mcp-session-id": init.session! },
    );
    const names = (list.body?.result?.tools ?? []).map((x: { name: string }) => x.name);
    if (names.includes("flaky__echo") && names.includes("tools__echo")) break;
    if (Date.now() > deadline) throw new Error(`the catalog never listed both servers: ${JSON.stringify(names)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  flaky.failWith = 502;
  prom = await startPrometheus(testConfig, { metrics_token: METRICS_TOKEN });
}, 120_000);

afterAll(async () => {
  await prom?.stop();
  await t?.stop();
  await up?.proc.stop();
  await flaky?.close();
});

describe("a real Prometheus with the observability profile's config", () => {
  it("scrapes every worker with the token, and every query of the Grafana dashboard returns data during real MCP load", async () => {
    const queries = dashboardQueries();
    expect(queries.length).toBeGreaterThan(15);
    for (const q of queries) expect(q.expr, q.panel).not.toContain("$");
    let i = 0;
    expect(await overLimit(), "the over-limit user was never refused").toBeGreaterThan(0);
    const deadline = Date.now() + 60_000;
    let empty: { panel: string; expr: string }[] = queries;
    // keep the clients working until every panel has data (bounded: a minute)
    while (empty.length && Date.now() < deadline) {
      // at least a second a round: each user stays under RATE_LIMIT_PER_MINUTE
      await Promise.all([round(i++), new Promise((r) => setTimeout(r, 1000))]);
      const answers = await Promise.all(queries.map(async (q) => ({ q, r: await prom.query(q.expr) })));
      // data: at least one series, and at least one a number (not a histogram_quantile or ratio of nothing)
      empty = answers.filter((a) => !a.r.result.some((x) => Number.isFinite(Number(x.value[1])))).map((a) => a.q);
    }
    expect(
      empty,
      `panels without data after ${i} rounds:\n${empty.map((q) => `${q.panel}: ${q.expr}`).join("\n")}\n${prom.output().slice(-2000)}`,
    ).toEqual([]);

    // every target is up: the token from the file works on each worker's /metrics
    const targets = await prom.targets();
    expect(targets.map((x) => x.scrapeUrl).sort()).toEqual(WORKERS.map((w) => `${t.workerUrls[w]}/metrics`).sort());
    for (const target of targets) expect(target.health, `${target.scrapeUrl}: ${target.lastError}`).toBe("up");
    // each worker's series carry its own `worker` label, and the figures move with the load
    // (the admin worker answers only the scrapes, each counted after its own answer: it shows from its second scrape on)
    const workersSeen = async () =>
      (await prom.query("sum by (worker) (mcpgw_http_requests_total)")).result.map((r) => r.metric.worker).sort();
    let seen = await workersSeen();
    while (seen.length < WORKERS.length && Date.now() < deadline + 10_000) {
      await new Promise((r) => setTimeout(r, 500));
      seen = await workersSeen();
    }
    expect(seen).toEqual([...WORKERS].sort());
    const calls = await prom.query('sum(mcpgw_tool_calls_total{server="tools",tool="echo",outcome="ok"})');
    expect(Number(calls.result[0]!.value[1])).toBeGreaterThanOrEqual(i);
    const refusals = await prom.query("sum(mcpgw_rate_limit_refusals_total)");
    expect(Number(refusals.result[0]!.value[1])).toBeGreaterThan(0);
    // no label of any series Prometheus stored carries a user's e-mail or key
    const all = await prom.query('{__name__=~"mcpgw_.+"}');
    expect(all.result.length).toBeGreaterThan(50);
    const text = JSON.stringify(all.result.map((r) => r.metric));
    expect(text).not.toMatch(/private|example\.test/);
    for (const key of [...keys.session, keys.modern, keys.heavy, METRICS_TOKEN]) expect(text).not.toContain(key);
  }, 150_000);
});
