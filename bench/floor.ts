/**
 * The runtime's floor under the gateway's shape: the same hops as the chain `npm run bench`
 * measures (a front that asks an auth worker and forwards to a third worker, which fetches the
 * upstream and streams its answer back), in one workerd process like `npm start`, with nothing
 * else: no routing, limits, identity, sessions, catalog, tracing or metrics. What the gateway
 * adds over this is its own work; what this adds over a direct request is the runtime's (three
 * isolates entered, two in-process subrequests, one more loopback hop, headers copied per hop).
 * `npm run bench` measures it as `floor_call_c1` beside `call_c1`.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { freePort } from "../scripts/lib/ports";
import { startWorkerd } from "../scripts/lib/workerd";
import { ROOT } from "../scripts/lib/workers";

/** The front: the forwardAuth question, then the request on with the identity header set (like the edge). */
const FRONT = `export default {
  async fetch(request, env) {
    const headers = new Headers(request.headers);
    const verdict = await env.AUTH.fetch(new Request(new URL("/verify", request.url), { headers }));
    if (!verdict.ok) return verdict;
    headers.set("x-user-email", verdict.headers.get("x-user-email"));
    const res = await env.PROXY.fetch(new Request(request, { headers }));
    return new Response(res.body, res);
  },
};
`;

/** The auth worker: lets every request through as one user. */
const AUTH = `export default {
  async fetch() {
    return new Response(null, { status: 200, headers: { "x-user-email": "bench@example.com" } });
  },
};
`;

/** The forwarding worker: the request to the upstream as it came (credentials and identity removed), its answer streamed back. */
const PROXY = `export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const headers = new Headers(request.headers);
    for (const name of ["host", "authorization", "x-user-email"]) headers.delete(name);
    return fetch(new URL(url.pathname + url.search, env.UPSTREAM), {
      method: request.method,
      headers,
      body: request.body,
      redirect: "manual",
    });
  },
};
`;

const worker = (name: string, bindings: string, outbound = "") =>
  `(name = "${name}", worker = (modules = [(name = "${name}.js", esModule = embed "${name}.js")], ` +
  `compatibilityDate = "2026-04-01", compatibilityFlags = ["nodejs_compat"], bindings = [${bindings}]${outbound}))`;

export interface FloorChain {
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts the floor chain in front of `upstream` (an MCP endpoint URL); its `url` takes the same
 * paths. `workers: 1` serves the forwarding worker alone (no front, no auth): the least any
 * gateway in workerd can add, one isolate and one more loopback hop.
 */
export async function startFloorChain(upstream: string, opts: { workers?: 1 | 3 } = {}): Promise<FloorChain> {
  const dir = resolve(ROOT, ".data/bench/floor");
  mkdirSync(dir, { recursive: true });
  writeFileSync(resolve(dir, "front.js"), FRONT);
  writeFileSync(resolve(dir, "auth.js"), AUTH);
  writeFileSync(resolve(dir, "proxy.js"), PROXY);
  const config = resolve(dir, "floor.capnp");
  writeFileSync(
    config,
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    ${worker("front", `(name = "AUTH", service = "auth"), (name = "PROXY", service = "proxy")`)},
    ${worker("auth", "")},
    ${worker("proxy", `(name = "UPSTREAM", text = "${new URL(upstream).origin}")`, `, globalOutbound = "internet"`)},
    (name = "internet", network = (allow = ["public", "private"]))
  ],
  sockets = [(name = "http", address = "127.0.0.1:0", http = (), service = "${opts.workers === 1 ? "proxy" : "front"}")],
);
`,
  );
  const port = await freePort();
  const proc = await startWorkerd({ config, port, env: {}, name: "workerd-floor" });
  const path = new URL(upstream).pathname;
  return { url: `http://127.0.0.1:${port}${path}`, stop: () => proc.stop() };
}

/** Runs `fn` with the URL of a floor chain in front of `upstream` (started for it, stopped after). */
export async function throughFloor<T>(
  upstream: string,
  opts: { workers?: 1 | 3 },
  fn: (url: string) => Promise<T>,
): Promise<T> {
  const floor = await startFloorChain(upstream, opts);
  try {
    return await fn(floor.url);
  } finally {
    await floor.stop();
  }
}
