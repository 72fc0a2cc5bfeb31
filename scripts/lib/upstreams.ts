/**
 * Upstream MCP servers, run as child processes on free loopback ports: `everything`
 * (@modelcontextprotocol/server-everything over Streamable HTTP: tools with progress, logging,
 * sampling, elicitation, resources, prompts, completion), the stdio servers `-filesystem` and
 * `-memory` bridged to Streamable HTTP by supergateway, and `modern` (scripts/lib/modern-upstream.ts:
 * a 2026-07-28-only server built with @modelcontextprotocol/server 2.x).
 *
 * Each runs with scripts/lib/upstream-guard.mjs preloaded: bound to 127.0.0.1 whatever the server
 * asks for, no CORS, and, given a `token`, refusing every request without
 * `Authorization: Bearer <token>` ({@link Upstream.headers}, which the gateway stores as the
 * server's secret header). Its environment is {@link baseEnv} and PORT: nothing of `npm start`'s.
 * The demo set of `npm start` always has a token, a new one per start.
 */
import { mkdirSync, writeFileSync, existsSync } from "node:fs";
import { resolve } from "node:path";
import { randomToken } from "../../shared/crypto";
import { baseEnv } from "./child-env";
import { freePort } from "./ports";
import { startProcess, waitForPort, type Managed } from "./processes";
import { ROOT } from "./workers";

export interface Upstream {
  id: string;
  url: string;
  /** The headers the gateway must send (the credential), empty when started without a token. */
  headers: Record<string, string>;
  proc: Managed;
}

export interface UpstreamOptions {
  /** Requests must carry `Authorization: Bearer <token>` (at least 32 characters). Default: none required. */
  token?: string;
}

const bin = (name: string) => resolve(ROOT, "node_modules/.bin", name);
const GUARD = resolve(ROOT, "scripts/lib/upstream-guard.mjs");

function guarded(id: string, entry: string, args: string[], port: number, o: UpstreamOptions): Managed {
  const env = baseEnv({
    PORT: String(port),
    MCPGW_BIND_HOST: "127.0.0.1",
    ...(o.token ? { MCPGW_UPSTREAM_TOKEN: o.token } : {}),
  });
  return startProcess(id, process.execPath, ["--import", GUARD, entry, ...args], { env });
}

const credential = (o: UpstreamOptions): Record<string, string> =>
  o.token ? { Authorization: `Bearer ${o.token}` } : {};

/** server-everything on its own Streamable HTTP transport. */
export async function startEverything(id = "everything", o: UpstreamOptions = {}): Promise<Upstream> {
  const port = await freePort();
  const proc = guarded(
    id,
    resolve(ROOT, "node_modules/@modelcontextprotocol/server-everything/dist/index.js"),
    ["streamableHttp"],
    port,
    o,
  );
  await waitForPort(port, proc);
  return { id, url: `http://127.0.0.1:${port}/mcp`, headers: credential(o), proc };
}

/** A stdio server behind supergateway (stateful: one child per MCP session). */
export async function startBridged(id: string, command: string, o: UpstreamOptions = {}): Promise<Upstream> {
  const port = await freePort();
  const args = [
    "--stdio",
    command,
    "--outputTransport",
    "streamableHttp",
    "--stateful",
    "--port",
    String(port),
    "--logLevel",
    "none",
    "--sessionTimeout",
    "600000",
  ];
  const proc = guarded(id, resolve(ROOT, "node_modules/supergateway/dist/index.js"), args, port, o);
  await waitForPort(port, proc);
  return { id, url: `http://127.0.0.1:${port}/mcp`, headers: credential(o), proc };
}

/**
 * The modern upstream (scripts/modern-upstream.ts) in its own process, guarded like the others.
 * `eras`: `modern` (default, 2026-07-28 only), `dual` (also 2025 sessions), `dual-stateless` or
 * `legacy` (2025 sessions only).
 */
export async function startModern(
  id = "modern",
  eras: "modern" | "dual" | "dual-stateless" | "legacy" = "modern",
  o: UpstreamOptions = {},
): Promise<Upstream> {
  const port = await freePort();
  const env = baseEnv({
    PORT: String(port),
    MCPGW_BIND_HOST: "127.0.0.1",
    ...(o.token ? { MCPGW_UPSTREAM_TOKEN: o.token } : {}),
  });
  const proc = startProcess(
    id,
    process.execPath,
    [
      "--import",
      GUARD,
      "--import",
      "tsx",
      resolve(ROOT, "scripts/modern-upstream.ts"),
      "--port",
      String(port),
      "--eras",
      eras,
    ],
    { cwd: ROOT, env },
  );
  await waitForPort(port, proc);
  return { id, url: `http://127.0.0.1:${port}/mcp`, headers: credential(o), proc };
}

/**
 * The demo set used by `npm start` (unless DEMO=0), each with its own random credential for
 * this start. Files served live under .data/files.
 */
export async function startDemoUpstreams(dataDir = resolve(ROOT, ".data")): Promise<Upstream[]> {
  const files = resolve(dataDir, "files");
  mkdirSync(files, { recursive: true });
  const readme = resolve(files, "README.md");
  if (!existsSync(readme))
    writeFileSync(readme, "# Demo files\n\nServed by the demo filesystem MCP server of the gateway.\n");
  const token = () => ({ token: randomToken(32) });
  return Promise.all([
    startEverything("everything", token()),
    startBridged("files", `${bin("mcp-server-filesystem")} ${files}`, token()),
    startBridged("memory", bin("mcp-server-memory"), token()),
    startModern("modern", "modern", token()),
  ]);
}
