/**
 * A stand-in for Traefik, driven by the project's own Traefik files (no Traefik binary can run
 * here). It reads `traefik/dynamic/*.yml` (file-provider templating for `{{ env "..." }}`),
 * picks the router Traefik would pick (Host/Path/PathPrefix rules, priority = rule length unless
 * set), and applies the middlewares the way Traefik v3 documents them: `forwardAuth` (GET to
 * `address` with the original headers plus X-Forwarded-*, a 2xx copies each
 * `authResponseHeaders` header over the request, anything else goes back as it is),
 * `replacePath`, `redirectRegex`, `headers` (response headers, also on answers a later
 * middleware gives), `buffering` (`maxRequestBodyBytes`: the whole body is read first, a larger
 * one gets Traefik's plain-text 413) and `rateLimit` (a token bucket per client address:
 * `average` per `period`, `burst` tokens; 429 with Retry-After when empty). The entry point's `aliasHeadersStrategy: delete` drops request headers whose names contain
 * an aliasing character. Service URLs are mapped to loopback by `resolve`.
 */
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
} from "node:http";
import { readFileSync } from "node:fs";
import { basename, resolve as resolvePath } from "node:path";
import { parse as parseYaml } from "yaml";
import { ROOT } from "../../scripts/lib/workers";

export interface DynamicConfig {
  routers: Record<string, { rule: string; service: string; middlewares?: string[]; priority?: number }>;
  middlewares: Record<string, Record<string, any>>;
  services: Record<string, { loadBalancer: { servers: { url: string }[] } }>;
}

export const DYNAMIC_FILES = ["traefik/dynamic/middlewares.yml", "traefik/dynamic/routers.yml"];

/** Traefik's file-provider templating, for the only function the files use: {{ env "NAME" }}. */
export function renderTemplate(text: string, env: Record<string, string>): string {
  return text.replace(/\{\{\s*env\s+"([A-Z0-9_]+)"\s*\}\}/g, (_, n: string) => {
    if (env[n] === undefined) throw new Error(`template needs ${n}`);
    return env[n]!;
  });
}

/**
 * The merged dynamic configuration of traefik/dynamic, rendered with `env`; `dir` reads the same
 * files from another directory (the stand-in image: /etc/traefik/dynamic).
 */
export function loadDynamicConfig(env: Record<string, string>, dir?: string): DynamicConfig {
  const http: DynamicConfig = { routers: {}, middlewares: {}, services: {} };
  for (const f of DYNAMIC_FILES) {
    const file = dir ? resolvePath(dir, basename(f)) : resolvePath(ROOT, f);
    const doc = parseYaml(renderTemplate(readFileSync(file, "utf8"), env)) as { http: Partial<DynamicConfig> };
    for (const k of ["routers", "middlewares", "services"] as const) Object.assign(http[k], doc.http[k] ?? {});
  }
  return http;
}

/** Evaluates a Traefik v3 rule made of Host, Path, PathPrefix, &&, || and parentheses. */
export function ruleMatches(rule: string, host: string, path: string): boolean {
  const js = rule
    .replace(/Host\(`([^`]*)`\)/g, (_, h: string) => JSON.stringify(h.toLowerCase() === host.toLowerCase()))
    .replace(/PathPrefix\(`([^`]*)`\)/g, (_, p: string) => JSON.stringify(path.startsWith(p)))
    .replace(/Path\(`([^`]*)`\)/g, (_, p: string) => JSON.stringify(path === p));
  if (!/^[\s()&|!truefalse]*$/.test(js)) throw new Error(`rule uses more than Host/Path/PathPrefix: ${rule}`);
  return Function(`return (${js});`)() as boolean;
}

/** The router Traefik picks for host + path: the matching one with the highest priority. */
export function pickRouter(routers: DynamicConfig["routers"], host: string, path: string) {
  return Object.entries(routers)
    .filter(([, r]) => ruleMatches(r.rule, host, path))
    .sort(([, a], [, b]) => (b.priority ?? b.rule.length) - (a.priority ?? a.rule.length))[0];
}

/** Characters that make a header name alias another for CGI-style backends (Traefik's list). */
const ALIASING = /[!#$%&'*+.^_`|~]/;

function toHeaders(h: IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || k.startsWith(":")) continue;
    for (const one of Array.isArray(v) ? v : [v]) out.append(k, one);
  }
  return out;
}

/** Traefik's `period` (a Go duration such as 1s, 1m, 500ms; a bare number is seconds) in ms. */
function durationMs(d: string | number | undefined): number {
  if (d === undefined) return 1000;
  if (typeof d === "number") return d * 1000;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let ms = 0;
  for (const m of d.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) ms += Number(m[1]) * unit[m[2]!]!;
  return ms;
}

/** Reads a request body to its end, or returns null once it passes `max` bytes. */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | null> {
  return new Promise((ok, fail) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on("data", (d: Buffer) => {
      size += d.length;
      if (size > max) over = true;
      else chunks.push(d);
    });
    req.on("end", () => ok(over ? null : Buffer.concat(chunks)));
    req.on("error", fail);
  });
}

export interface StandIn {
  url: string;
  close(): Promise<void>;
}

/**
 * Starts the stand-in on a free loopback port. `hosts` fills the templates (GATEWAY_HOST, ...);
 * `resolve` maps a service or middleware URL (`http://auth:8081`) to a loopback one. `listen`
 * (the stand-in image) sets the address and the directory of the dynamic files.
 */
export function startTraefikStandIn(
  hosts: Record<string, string>,
  resolve: (url: string) => string,
  listen: { host: string; port: number; dynamicDir?: string } = { host: "127.0.0.1", port: 0 },
): Promise<StandIn> {
  const config = loadDynamicConfig(hosts, listen.dynamicDir);
  const buckets = new Map<string, { tokens: number; at: number }>();
  const server: Server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? "/", "http://placeholder");
      const host = (req.headers.host ?? "").replace(/:\d+$/, "");
      // entry point: aliasHeadersStrategy / underscoreHeadersStrategy = delete
      const headers = toHeaders(req.headers);
      for (const name of [...headers.keys()]) if (ALIASING.test(name)) headers.delete(name);
      const picked = pickRouter(config.routers, host, url.pathname);
      if (!picked) {
        res.writeHead(404, { "content-type": "text/plain" }).end("404 page not found\n");
        return;
      }
      const [, router] = picked;
      const extraResponseHeaders: Record<string, string> = {};
      const reply = (status: number, headers: Record<string, string>, body: string | Buffer = "") => {
        res.writeHead(status, { ...headers, ...extraResponseHeaders }).end(body);
      };
      let path = url.pathname;
      let body: Buffer | null = null;
      for (const name of router.middlewares ?? []) {
        const mw = config.middlewares[name]!;
        if (mw.rateLimit) {
          const rl = mw.rateLimit as { average: number; period?: string | number; burst?: number };
          const key = `${name}\n${req.socket.remoteAddress}`;
          const burst = rl.burst ?? 1;
          const perMs = rl.average / durationMs(rl.period);
          const now = Date.now();
          const b = buckets.get(key) ?? { tokens: burst, at: now };
          b.tokens = Math.min(burst, b.tokens + (now - b.at) * perMs);
          b.at = now;
          buckets.set(key, b);
          if (rl.average > 0 && b.tokens < 1) {
            reply(
              429,
              {
                "content-type": "text/plain; charset=utf-8",
                "retry-after": String(Math.ceil((1 - b.tokens) / perMs / 1000)),
              },
              "Too Many Requests\n",
            );
            return;
          }
          b.tokens -= 1;
        } else if (mw.buffering) {
          const max = (mw.buffering.maxRequestBodyBytes as number | undefined) ?? 0;
          const declared = Number(req.headers["content-length"] ?? "NaN");
          if (max > 0 && declared > max) {
            reply(413, { "content-type": "text/plain; charset=utf-8" }, "Request Entity Too Large\n");
            return;
          }
          body = await readBody(req, max > 0 ? max : Infinity);
          if (body === null) {
            reply(413, { "content-type": "text/plain; charset=utf-8" }, "Request Entity Too Large\n");
            return;
          }
          // forwarded with its length, as Traefik does after buffering
          headers.delete("transfer-encoding");
          headers.set("content-length", String(body.length));
        } else if (mw.forwardAuth) {
          const fa = mw.forwardAuth as {
            address: string;
            authResponseHeaders?: string[];
            trustForwardHeader?: boolean;
          };
          const authHeaders = new Headers(headers);
          authHeaders.delete("content-length");
          authHeaders.set("X-Forwarded-Method", req.method ?? "GET");
          authHeaders.set("X-Forwarded-Proto", "https");
          authHeaders.set("X-Forwarded-Host", req.headers.host ?? host);
          authHeaders.set("X-Forwarded-Uri", url.pathname + url.search);
          authHeaders.set("X-Forwarded-For", req.socket.remoteAddress ?? "127.0.0.1");
          // Traefik's Go transport retries a request whose reused idle connection the server had
          // just closed; a GET may be sent again, so the stand-in does the same once.
          const ask = () => fetch(resolve(fa.address), { method: "GET", headers: authHeaders, redirect: "manual" });
          const verdict = await ask().catch((err: Error) => {
            process.stderr.write(`traefik stand-in: forwardAuth ${fa.address}: ${err.message}; once more\n`);
            return ask();
          });
          if (verdict.status < 200 || verdict.status > 299) {
            const denied = Buffer.from(await verdict.arrayBuffer());
            const out: Record<string, string> = {};
            verdict.headers.forEach((v, k) => (out[k] = v));
            delete out["content-encoding"];
            delete out["transfer-encoding"];
            out["content-length"] = String(denied.length);
            reply(verdict.status, out, denied);
            return;
          }
          for (const h of fa.authResponseHeaders ?? []) {
            headers.delete(h);
            const v = verdict.headers.get(h);
            if (v !== null) headers.set(h, v);
          }
        } else if (mw.replacePath) {
          path = mw.replacePath.path;
        } else if (mw.redirectRegex) {
          const from = `https://${req.headers.host}${url.pathname}${url.search}`;
          const re = new RegExp(mw.redirectRegex.regex);
          if (re.test(from)) {
            reply(mw.redirectRegex.permanent ? 301 : 302, {
              location: from.replace(re, mw.redirectRegex.replacement.replace(/\$\{(\d+)\}/g, "$$$1")),
            });
            return;
          }
        } else if (mw.headers) {
          for (const [k, v] of Object.entries((mw.headers.customResponseHeaders ?? {}) as Record<string, string>))
            if (v) extraResponseHeaders[k] = v;
          if (mw.headers.stsSeconds)
            extraResponseHeaders["strict-transport-security"] =
              `max-age=${mw.headers.stsSeconds}${mw.headers.stsIncludeSubdomains ? "; includeSubDomains" : ""}`;
          if (mw.headers.contentTypeNosniff) extraResponseHeaders["x-content-type-options"] = "nosniff";
          if (mw.headers.frameDeny) extraResponseHeaders["x-frame-options"] = "DENY";
        }
      }
      const target = new URL(resolve(config.services[router.service]!.loadBalancer.servers[0]!.url));
      headers.set("X-Forwarded-Proto", "https");
      headers.set("X-Forwarded-Host", req.headers.host ?? host);
      const outgoing: Record<string, string> = {};
      headers.forEach((v, k) => (outgoing[k] = v)); // Headers has already joined repeated ones
      // A fresh connection per request (agent: false): Node's keep-alive pool would send on a
      // connection the worker had just closed as idle and answer 502, where Traefik retries.
      const upstream = httpRequest(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: path + url.search,
          headers: outgoing,
          agent: false,
        },
        (up) => {
          res.writeHead(up.statusCode ?? 502, { ...up.headers, ...extraResponseHeaders });
          up.pipe(res);
        },
      );
      upstream.on("error", (err) => {
        process.stderr.write(`traefik stand-in: ${router.service} ${target.host}: ${err.message}\n`);
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      if (body !== null) upstream.end(body);
      else req.pipe(upstream);
    } catch (err) {
      process.stderr.write(`traefik stand-in: ${(err as Error).stack}\n`);
      if (!res.headersSent) res.writeHead(502);
      res.end();
    }
  });
  return new Promise((ok) =>
    server.listen(listen.port, listen.host, () => {
      const { port } = server.address() as { port: number };
      ok({
        url: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    }),
  );
}
