/**
 * The Grafana dashboard and the observability profile's configs: the dashboard JSON is well
 * formed, every query names only metrics the gateway exports (shared/observe/families.ts), every
 * family is on some panel, and Prometheus scrapes every worker's /metrics port with the token.
 */
import { readFileSync, readdirSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { METRIC_NAMES } from "../../shared/observe/families";
import { WORKER_PORTS } from "../../shared/edge";

const ROOT = resolve(import.meta.dirname, "../..");
const DIR = resolve(ROOT, "compose/observability");
const dashboards = readdirSync(resolve(DIR, "grafana/dashboards")).filter((f) => f.endsWith(".json"));

describe("Grafana dashboard", () => {
  it("is valid dashboard JSON on the provisioned Prometheus data source", () => {
    expect(dashboards).toEqual(["mcp-gateway.json"]);
    const ds = parseYaml(readFileSync(resolve(DIR, "grafana/provisioning/datasources/prometheus.yml"), "utf8")) as {
      datasources: { uid: string; type: string; url: string }[];
    };
    expect(ds.datasources[0]).toMatchObject({ type: "prometheus", url: "http://prometheus:9090" });
    const provider = parseYaml(
      readFileSync(resolve(DIR, "grafana/provisioning/dashboards/dashboards.yml"), "utf8"),
    ) as { providers: { options: { path: string } }[] };
    expect(provider.providers[0]!.options.path).toBe("/etc/grafana/dashboards");
    for (const file of dashboards) {
      const d = JSON.parse(readFileSync(resolve(DIR, "grafana/dashboards", file), "utf8"));
      expect(d.uid).toMatch(/^[a-z0-9-]{1,40}$/);
      expect(typeof d.title).toBe("string");
      expect(Array.isArray(d.panels) && d.panels.length).toBeGreaterThan(10);
      const ids = d.panels.map((p: { id: number }) => p.id);
      expect(new Set(ids).size).toBe(ids.length);
      for (const p of d.panels) {
        expect(p.datasource.uid, p.title).toBe(ds.datasources[0]!.uid);
        expect(p.gridPos.w + p.gridPos.x, p.title).toBeLessThanOrEqual(24);
        expect(p.targets.length, p.title).toBeGreaterThan(0);
        for (const t of p.targets) {
          expect(t.expr, p.title).toBeTruthy();
          // balanced brackets: a typo in a query shows here rather than as an empty panel
          for (const [o, c] of [
            ["(", ")"],
            ["{", "}"],
            ["[", "]"],
          ])
            expect(t.expr.split(o!).length, `${p.title}: ${t.expr}`).toBe(t.expr.split(c!).length);
        }
      }
    }
  });

  it("every query names only exported metrics, and every exported family has a panel", () => {
    const used = new Set<string>();
    for (const file of dashboards) {
      const d = JSON.parse(readFileSync(resolve(DIR, "grafana/dashboards", file), "utf8"));
      for (const p of d.panels)
        for (const t of p.targets) for (const m of t.expr.matchAll(/\bmcpgw_[a-z0-9_]+/g)) used.add(m[0]);
    }
    expect(used.size).toBeGreaterThan(10);
    for (const name of used) expect(METRIC_NAMES, `the dashboard queries ${name}`).toContain(name);
    const families = METRIC_NAMES.filter((n) => !/_(bucket|sum|count)$/.test(n) && n !== "mcpgw_worker_up");
    for (const f of families)
      expect(
        [...used].some((u) => u === f || u.startsWith(`${f}_`)),
        `no panel shows ${f}`,
      ).toBe(true);
    // the check can fail: a name the gateway does not export is caught
    expect(METRIC_NAMES).not.toContain("mcpgw_tool_calls");
  });
});

describe("observability profile", () => {
  it("Prometheus scrapes every worker's /metrics port with a bearer token file", () => {
    const prom = parseYaml(readFileSync(resolve(DIR, "prometheus.yml"), "utf8")) as any;
    const job = prom.scrape_configs[0];
    expect(job.metrics_path).toBe("/metrics");
    expect(job.authorization).toEqual({ type: "Bearer", credentials_file: "/prometheus/metrics_token" });
    const targets = job.dns_sd_configs.map(
      (d: { names: string[]; port: number; type: string }) => (expect(d.type).toBe("A"), `${d.names[0]}:${d.port}`),
    );
    expect(targets.sort()).toEqual(
      Object.entries(WORKER_PORTS)
        .map(([w, p]) => `${w}:${p}`)
        .sort(),
    );
    const col = parseYaml(readFileSync(resolve(DIR, "otel-collector.yaml"), "utf8")) as any;
    expect(col.receivers.otlp.protocols.http.endpoint).toBe("0.0.0.0:4318");
    expect(col.service.pipelines.traces.receivers).toEqual(["otlp"]);
  });
});
