/**
 * `node --import tsx bench/message-trace.ts`: what the edge's reading of a 2026-07-28 message's
 * `_meta` trace context (workers/edge/src/message-trace.ts) adds to one request. The same
 * edge-like Hono app (observe(), the forwarded request rebuilt with the trace headers as the edge
 * does, and a next hop that reads the body, as the mcp worker does)
 * answers a modern tools/call without a traceparent header, with and without
 * continueMessageTrace, in interleaved rounds; prints the median time per request of each and the
 * difference, for a message with `_meta.traceparent` (read, searched, parsed) and one without (read
 * and searched only), and the edge's own work on the read body alone (decode, search, parse). Runs
 * in Node for the reason bench/observe.ts gives.
 */
import { Hono } from "hono";
import { observe } from "../shared/middleware/observe";
import { traceHeaders } from "../shared/observe/trace";
import { continueMessageTrace } from "../workers/edge/src/message-trace";

const ROUNDS = Number(process.env.ROUNDS ?? 15);
const PER_ROUND = Number(process.env.PER_ROUND ?? 4000);

const env = { METRICS_TOKEN: "x".repeat(40) };
const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext;

/** The next hop: reads the body as the mcp worker does. */
const nextHop = async (req: Request) => Response.json({ ok: (await req.text()).length > 0 });
/** What the edge forwards: the request rebuilt with its trace headers (workers/edge/src/proxy.routes.ts), with the body read when there is one. */
const forward = (req: Request, body: ArrayBuffer | null) => {
  const headers = new Headers(req.headers);
  for (const [name, value] of Object.entries(traceHeaders())) headers.set(name, value);
  return new Request(req, body === null ? { headers } : { headers, body });
};
const plain = new Hono().use("*", observe("edge")).post("/mcp/:server", (c) => nextHop(forward(c.req.raw, null)));
const peeking = new Hono()
  .use("*", observe("edge"))
  .post("/mcp/:server", async (c) => nextHop(forward(c.req.raw, await continueMessageTrace(c.req.raw, c.req.path))));

const meta = (trace: boolean) => ({
  "io.modelcontextprotocol/protocolVersion": "2026-07-28",
  "io.modelcontextprotocol/clientCapabilities": {},
  "io.modelcontextprotocol/clientInfo": { name: "bench", version: "1" },
  ...(trace ? { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" } : {}),
});
const bodies = {
  withTrace: JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "tools/call",
    params: { name: "echo", arguments: { message: "hello" }, _meta: meta(true) },
  }),
  withoutTrace: JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "tools/call",
    params: { name: "echo", arguments: { message: "hello" }, _meta: meta(false) },
  }),
};
const request = (body: string) =>
  new Request("http://gw/mcp/s", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "mcp-protocol-version": "2026-07-28",
      "content-length": String(body.length),
    },
    body,
  });

async function round(app: Hono, body: string): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < PER_ROUND; i++) {
    const res = await app.fetch(request(body), env, ctx);
    await res.arrayBuffer();
  }
  return ((performance.now() - t0) * 1000) / PER_ROUND; // µs per request
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const out: Record<string, { without: number; with: number; added: number }> = {};
for (const [name, body] of Object.entries(bodies)) {
  await round(plain, body);
  await round(peeking, body);
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    a.push(await round(plain, body));
    b.push(await round(peeking, body));
  }
  out[name] = {
    without: +median(a).toFixed(1),
    with: +median(b).toFixed(1),
    added: +(median(b) - median(a)).toFixed(1),
  };
}
// the edge's own work on a body already read, without Request and stream costs (which differ most
// between Node and workerd): decoding, the substring search and, with a trace, the parse
const bytes = new TextEncoder().encode(bodies.withTrace).buffer as ArrayBuffer;
const decoder = new TextDecoder();
const work = (b: ArrayBuffer) => {
  const text = decoder.decode(b);
  return text.includes('"traceparent"')
    ? (JSON.parse(text) as { params?: { _meta?: { traceparent?: string } } }).params?._meta?.traceparent
    : undefined;
};
const N = PER_ROUND * 10;
const works: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const t0 = performance.now();
  for (let i = 0; i < N; i++) if (work(bytes) === undefined) throw new Error("no traceparent found");
  works.push(((performance.now() - t0) * 1000) / N);
}
console.log(
  JSON.stringify({
    perRequestUs: out,
    readSearchParseUs: +median(works).toFixed(2),
    rounds: ROUNDS,
    perRound: PER_ROUND,
    bodyBytes: bodies.withTrace.length,
  }),
);
