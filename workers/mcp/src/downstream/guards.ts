/**
 * DNS-rebinding guards of the MCP endpoints (spec: validate `Origin`; bind locally or check the
 * Host). A request with an `Origin` must come from PUBLIC_URL's origin, one of ALLOWED_ORIGINS,
 * or - when the gateway itself is reached on a loopback name - any loopback origin (a local tool
 * on another port, such as the MCP Inspector); a rebinding attacker's page carries its own domain
 * as Origin and Host, so neither passes.
 */
import type { McpEnv } from "../env";

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase();
  return LOOPBACK.has(h) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h.endsWith(".localhost");
}

/** Whether a request's Origin (if any) may use the endpoint. */
export function originAllowed(req: Request, env: Pick<McpEnv, "PUBLIC_URL" | "ALLOWED_ORIGINS">): boolean {
  const origin = req.headers.get("origin");
  if (!origin) return true;
  const o = origin.replace(/\/+$/, "");
  if (env.PUBLIC_URL && new URL(env.PUBLIC_URL).origin === o) return true;
  if (env.ALLOWED_ORIGINS.includes(o)) return true;
  let parsed: URL;
  try {
    parsed = new URL(o);
  } catch {
    return false;
  }
  // reached on loopback, a loopback origin is local software: allowed whatever its port
  return (
    (parsed.protocol === "http:" || parsed.protocol === "https:") &&
    isLoopbackHost(parsed.hostname) &&
    isLoopbackHost(new URL(req.url).hostname)
  );
}

/**
 * The Host must be PUBLIC_URL's host, one of ALLOWED_HOSTS, or a loopback name (which a
 * rebinding attacker's page cannot send: it would carry its own domain).
 */
export function hostAllowed(req: Request, env: Pick<McpEnv, "PUBLIC_URL" | "ALLOWED_HOSTS">): boolean {
  const url = new URL(req.url);
  const host = url.host.toLowerCase();
  if (isLoopbackHost(url.hostname)) return true;
  if (env.PUBLIC_URL && host === new URL(env.PUBLIC_URL).host.toLowerCase()) return true;
  return env.ALLOWED_HOSTS.includes(host) || env.ALLOWED_HOSTS.includes(url.hostname.toLowerCase());
}
