// @ts-check
/**
 * Preloaded (`node --import`) into every upstream MCP server the local stack runs from npm
 * (server-everything, supergateway), before the server's own code, because those servers listen
 * on every interface, check no credential and answer CORS `*`, and none can be told otherwise:
 *
 * - every TCP listener of the process is bound to `MCPGW_BIND_HOST` (default 127.0.0.1),
 *   whatever address the server asks for;
 * - with `MCPGW_UPSTREAM_TOKEN` set, every HTTP request must carry
 *   `Authorization: Bearer <token>` (the gateway stores it as that server's secret header and
 *   injects it); anything else gets 401 JSON before the server sees it, protocol upgrades are
 *   refused, and the header is removed before the server reads the request;
 * - no CORS: `Access-Control-*` response headers are dropped, so no web page can read an answer.
 *
 * Both variables are removed from `process.env` before the server runs (server-everything's
 * `get-env` tool returns its environment, and supergateway passes its own to its stdio child).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import http from "node:http";
import net from "node:net";

const host = process.env.MCPGW_BIND_HOST || "127.0.0.1";
const token = process.env.MCPGW_UPSTREAM_TOKEN;
delete process.env.MCPGW_BIND_HOST;
delete process.env.MCPGW_UPSTREAM_TOKEN;
if (token !== undefined && token.length < 32) {
  console.error("upstream-guard: MCPGW_UPSTREAM_TOKEN must be at least 32 characters");
  process.exit(1);
}
const expected = token === undefined ? null : createHash("sha256").update(`Bearer ${token}`).digest();

/** @param {string | undefined} header */
function authorized(header) {
  if (!expected) return true;
  if (typeof header !== "string") return false;
  return timingSafeEqual(createHash("sha256").update(header).digest(), expected);
}

// --- every listener on the bind host --------------------------------------------------------
const listen = net.Server.prototype.listen;
/** @this {net.Server} @param {any[]} args */
function boundListen(...args) {
  const cb = typeof args[args.length - 1] === "function" ? args[args.length - 1] : undefined;
  const first = args[0];
  /** @type {net.ListenOptions} */
  let options;
  if (
    first !== null &&
    typeof first === "object" &&
    !("fd" in first) &&
    !("_handle" in first) &&
    !("path" in first && first.path)
  ) {
    options = { ...first };
  } else if (
    first === undefined ||
    first === null ||
    typeof first === "function" ||
    typeof first === "number" ||
    (typeof first === "string" && /^\d+$/.test(first))
  ) {
    options = { port: typeof first === "function" || first == null ? 0 : Number(first) };
  } else {
    return listen.apply(this, /** @type {any} */ (args)); // a Unix socket path or a handle: not on the network
  }
  options.host = host;
  return cb ? listen.call(this, options, cb) : listen.call(this, options);
}
net.Server.prototype.listen = /** @type {any} */ (boundListen);

// --- the credential, and no CORS ------------------------------------------------------------
const CORS = /^access-control-/i;

/** @param {any} h headers as writeHead takes them: an object, `[k, v, k, v]` or `[[k, v], ...]` */
function stripCors(h) {
  if (!Array.isArray(h)) return Object.fromEntries(Object.entries(h).filter(([k]) => !CORS.test(k)));
  if (h.length && Array.isArray(h[0])) return h.filter(([k]) => !CORS.test(String(k)));
  const out = [];
  for (let j = 0; j + 1 < h.length; j += 2) if (!CORS.test(String(h[j]))) out.push(h[j], h[j + 1]);
  return out;
}

/** @param {http.ServerResponse} res */
function withoutCors(res) {
  const setHeader = res.setHeader;
  res.setHeader = function (name, value) {
    if (CORS.test(String(name))) return this;
    return setHeader.call(this, name, value);
  };
  const writeHead = res.writeHead;
  res.writeHead = /** @type {any} */ (
    function (/** @type {number} */ status, /** @type {any[]} */ ...rest) {
      return writeHead.call(this, status, ...rest.map((a) => (a !== null && typeof a === "object" ? stripCors(a) : a)));
    }
  );
}

/** @param {http.ServerResponse} res */
function refuse(res) {
  const body = JSON.stringify({
    jsonrpc: "2.0",
    id: null,
    error: { code: -32001, message: "this upstream answers the gateway only: credential missing or wrong" },
  });
  res.writeHead(401, {
    "content-type": "application/json",
    "www-authenticate": 'Bearer realm="mcp-upstream"',
    "content-length": Buffer.byteLength(body),
    connection: "close",
  });
  res.end(body);
}

/** @param {http.IncomingMessage} req */
function dropCredential(req) {
  delete req.headers.authorization;
  for (let i = req.rawHeaders.length - 2; i >= 0; i -= 2)
    if (/^authorization$/i.test(req.rawHeaders[i] ?? "")) req.rawHeaders.splice(i, 2);
}

const emit = http.Server.prototype.emit;
http.Server.prototype.emit = /** @type {any} */ (
  function (/** @type {string | symbol} */ event, /** @type {any[]} */ ...args) {
    if (event === "request" || event === "checkContinue" || event === "checkExpectation") {
      const [req, res] = /** @type {[http.IncomingMessage, http.ServerResponse]} */ (args);
      if (!authorized(req.headers.authorization)) {
        req.resume();
        refuse(res);
        return true;
      }
      dropCredential(req);
      withoutCors(res);
    } else if (event === "upgrade" || event === "connect") {
      /** @type {net.Socket} */ (args[1]).destroy();
      return true;
    }
    return emit.apply(this, /** @type {any} */ ([event, ...args]));
  }
);
