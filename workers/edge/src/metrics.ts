/**
 * `GET /metrics` on the public origin: every worker's figures in one Prometheus (or OpenMetrics)
 * exposition, each series labelled with its `worker`. Readable with `METRICS_TOKEN` as Bearer,
 * or an admin's credential (API key, token or session: the forwardAuth step decides, and only
 * `X-User-Admin: true` from it counts); 401 / 403 JSON otherwise, never public.
 *
 * The edge asks each bound worker for its snapshot at its own `/metrics` with a service
 * assertion (shared/middleware/observe); a worker that does not answer is left out and counted
 * as `mcpgw_worker_up{worker} 0`, so one worker down does not
 * blank the scrape. In one workerd process (`npm start`) that is every worker of the process;
 * across containers, one replica of each.
 */
import type { Context } from "hono";
import { readEnv } from "../../../shared/env";
import { errorResponse } from "../../../shared/http";
import { isMetricsToken, wantsOpenMetrics } from "../../../shared/middleware/observe";
import {
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  render,
  snapshot,
  type FamilySnapshot,
} from "../../../shared/observe/metrics";
import { withServiceAssertion, type ServiceName } from "../../../shared/service-auth";
import { EdgeEnv, type EdgeBindings } from "./env";
import { forwardAuth, forwardedHeaders } from "./forward-auth";

const GATHERED: { worker: ServiceName; binding: keyof EdgeBindings }[] = [
  { worker: "auth", binding: "AUTH" },
  { worker: "catalog", binding: "CATALOG" },
  { worker: "mcp", binding: "MCP" },
  { worker: "admin", binding: "ADMIN" },
];

export async function metricsHandler(c: Context<{ Bindings: EdgeBindings }>): Promise<Response> {
  const env = readEnv(EdgeEnv, c.env);
  if (!isMetricsToken(c.req.header("authorization"), env.METRICS_TOKEN)) {
    const identity = forwardedHeaders(c.req.raw.headers);
    const refused = await forwardAuth(c.env.AUTH_VERIFY, c.req.raw, identity);
    if (refused) return refused;
    if (identity.get("X-User-Admin") !== "true")
      return errorResponse("/metrics", 403, "forbidden", "metrics: an admin's credential or METRICS_TOKEN is required");
  }
  const sources: { worker: string; families: FamilySnapshot[] }[] = [{ worker: "edge", families: snapshot() }];
  const missing: string[] = [];
  if (env.SERVICE_SECRET) {
    const secret = env.SERVICE_SECRET;
    const answers = await Promise.all(
      GATHERED.map(async ({ worker, binding }) => {
        try {
          const res = await withServiceAssertion(c.env[binding], secret, "edge", worker).fetch(
            new Request(new URL("/metrics", c.req.url), { headers: { accept: "application/json" } }),
          );
          if (!res.ok) {
            await res.body?.cancel();
            return { worker, families: null };
          }
          const body = (await res.json()) as { families?: FamilySnapshot[] };
          return { worker, families: Array.isArray(body.families) ? body.families : null };
        } catch {
          return { worker, families: null };
        }
      }),
    );
    for (const a of answers) {
      if (a.families) sources.push({ worker: a.worker, families: a.families });
      else missing.push(a.worker);
    }
  } else {
    missing.push(...GATHERED.map((g) => g.worker));
  }
  const om = wantsOpenMetrics(c.req.header("accept"));
  const up = [
    `# HELP mcpgw_worker_up Whether the edge could gather a worker's figures in this scrape`,
    `# TYPE mcpgw_worker_up gauge`,
    ...["edge", ...GATHERED.map((g) => g.worker)].map(
      (w) => `mcpgw_worker_up{worker="${w}"} ${missing.includes(w) ? 0 : 1}`,
    ),
  ].join("\n");
  const text = render(sources, om);
  const body = om ? text.replace(/# EOF\n$/, `${up}\n# EOF\n`) : `${text}${up}\n`;
  return c.body(body, 200, {
    "content-type": om ? OPENMETRICS_CONTENT_TYPE : PROMETHEUS_CONTENT_TYPE,
    "cache-control": "no-store",
  });
}
