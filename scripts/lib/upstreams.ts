/**
 * Demo upstream MCP servers, run as child processes on free loopback ports:
 * `everything` (@modelcontextprotocol/server-everything over Streamable HTTP: tools with
 * progress, logging, sampling, elicitation, resources, prompts, completion), the stdio
 * servers `-filesystem` and `-memory` bridged to Streamable HTTP by supergateway, and `modern`
 * (scripts/lib/modern-upstream.ts: a 2026-07-28-only server built with @modelcontextprotocol/server 2.x).
 */
import { mkdirSync, writeFileSync, existsSync } from "node:fs";
import { resolve } from "node:path";
import { freePort } from "./ports";
import { startProcess, waitForPort, type Managed } from "./processes";
import { ROOT } from "./workers";

export interface Upstream {
  id: string;
  url: string;
  proc: Managed;
}

const bin = (name: string) => resolve(ROOT, "node_modules/.bin", name);

/** server-everything on its own Streamable HTTP transport. */
export async function startEverything(id = "everything"): Promise<Upstream> {
  const port = await freePort();
  const proc = startProcess(id, process.execPath, [resolve(ROOT, "node_modules/@modelcontextprotocol/server-everything/dist/index.js"), "streamableHttp"], { env: { PORT: String(port) } });
  await waitForPort(port, proc);
  return { id, url: `http://127.0.0.1:${port}/mcp`, proc };
}

/** A stdio server behind supergateway (stateful: one child per MCP session). */
export async function startBridged(id: string, command: string): Promise<Upstream> {
  const port = await freePort();
  const proc = startProcess(id, bin("supergateway"), ["--stdio", command, "--outputTransport", "streamableHttp", "--stateful", "--port", String(port), "--logLevel", "none", "--sessionTimeout", "600000"]);
  await waitForPort(port, proc);
  return { id, url: `http://127.0.0.1:${port}/mcp`, proc };
}

/**
 * The modern upstream (scripts/modern-upstream.ts) in its own process. `eras`: `modern` (default,
 * 2026-07-28 only), `dual` (also 2025 sessions), `dual-stateless` or `legacy` (2025 sessions only).
 */
export async function startModern(id = "modern", eras: "modern" | "dual" | "dual-stateless" | "legacy" = "modern"): Promise<Upstream> {
  const port = await freePort();
  const proc = startProcess(id, process.execPath, ["--import", "tsx", resolve(ROOT, "scripts/modern-upstream.ts"), "--port", String(port), "--eras", eras], { cwd: ROOT });
  await waitForPort(port, proc);
  return { id, url: `http://127.0.0.1:${port}/mcp`, proc };
}

/** The demo set used by `npm start` (unless DEMO=0). Files served live under .data/files. */
export async function startDemoUpstreams(dataDir = resolve(ROOT, ".data")): Promise<Upstream[]> {
  const files = resolve(dataDir, "files");
  mkdirSync(files, { recursive: true });
  const readme = resolve(files, "README.md");
  if (!existsSync(readme)) writeFileSync(readme, "# Demo files\n\nServed by the demo filesystem MCP server of the gateway.\n");
  return Promise.all([
    startEverything("everything"),
    startBridged("files", `${bin("mcp-server-filesystem")} ${files}`),
    startBridged("memory", bin("mcp-server-memory")),
    startModern("modern"),
  ]);
}
