/**
 * `node --import tsx bench/observe.ts`: what metrics and tracing add to one request, per hop. The
 * same Hono app answers with and without `observe()` (shared/middleware/observe), exporting on
 * (spans encoded as OTLP protobuf after every request - OTEL_BSP_SCHEDULE_DELAY=0, the worst
 * case; the default batches them - and handed to a fetch that answers at once, so the
 * figure is the gateway's own CPU, not a collector's latency), in interleaved rounds; prints the
 * median time per request of each and the difference. A request through the gateway crosses
 * three or four such hops (edge, auth, mcp, catalog when its cache is cold). Runs in Node, not
 * workerd: workerd's clock does not advance during computation, so it cannot time CPU alone.
 */
import { Hono } from "hono";
import { metricsRoute, observe } from "../shared/middleware/observe";
import { currentSpan } from "../shared/observe/trace";

const ROUNDS = Number(process.env.ROUNDS ?? 15);
const PER_ROUND = Number(process.env.PER_ROUND ?? 4000);

globalThis.fetch = (async () => new Response(null, { status: 200 })) as typeof fetch;
const env = {
  ...(process.env.NO_EXPORT
    ? {}
    : { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector.invalid:4318", OTEL_BSP_SCHEDULE_DELAY: "0" }),
  METRICS_TOKEN: "x".repeat(40),
};
const pending: Promise<unknown>[] = [];
const ctx = {
  waitUntil: (p: Promise<unknown>) => void pending.push(p),
  passThroughOnException() {},
  props: {},
} as unknown as ExecutionContext;

const plain = new Hono().post("/mcp/:server", (c) => c.json({ ok: true }));
const observed = new Hono()
  .use("*", observe("mcp"))
  .get("/metrics", metricsRoute("mcp"))
  .post("/mcp/:server", (c) => {
    currentSpan()?.set("mcp.method", "tools/call").set("mcp.server", "s").set("mcp.tool", "echo");
    return c.json({ ok: true });
  });

const request = () =>
  new Request("http://gw/mcp/s", {
    method: "POST",
    headers: { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" },
    body: "{}",
  });

async function round(app: Hono): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < PER_ROUND; i++) {
    const res = await app.fetch(request(), env, ctx);
    await res.arrayBuffer();
    if (pending.length) await Promise.all(pending.splice(0));
  }
  return ((performance.now() - t0) * 1000) / PER_ROUND; // µs per request
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
await round(plain);
await round(observed);
const a: number[] = [];
const b: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  a.push(await round(plain));
  b.push(await round(observed));
}
const base = median(a);
const with_ = median(b);
console.log(
  JSON.stringify({
    perRequestUs: { without: +base.toFixed(1), with: +with_.toFixed(1), added: +(with_ - base).toFixed(1) },
    rounds: ROUNDS,
    perRound: PER_ROUND,
  }),
);
