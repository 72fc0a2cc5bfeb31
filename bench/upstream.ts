/**
 * A small upstream MCP server for the benchmark, built with the official SDK (from npm): N trivial
 * tools (`tool_0` echoes its input) over Streamable HTTP, stateful sessions like most servers in
 * the field. Started in-process so the benchmark controls its size.
 */
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { z } from "zod";

export interface BenchUpstream {
  url: string;
  /** Sessions initialized so far, sessions open now (the tests count upstream sessions), and tools/list requests received. */
  stats: { opened: number; open: number; lists: number };
  close(): Promise<void>;
}

function build(tools: number): McpServer {
  const server = new McpServer({ name: "bench-upstream", version: "1.0.0" });
  for (let i = 0; i < tools; i++) {
    server.registerTool(
      `tool_${i}`,
      { description: `Benchmark tool ${i}: echoes its text`, inputSchema: { text: z.string() } },
      async ({ text }) => ({
        content: [{ type: "text", text }],
      }),
    );
  }
  return server;
}

export async function startBenchUpstream(tools = 1): Promise<BenchUpstream> {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const stats = { opened: 0, open: 0, lists: 0 };
  const http: Server = createServer(async (req, res) => {
    let body: unknown;
    if (req.method === "POST") {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        body = undefined;
      }
      if ((body as { method?: unknown } | undefined)?.method === "tools/list") stats.lists++;
    }
    const sid = req.headers["mcp-session-id"];
    let transport = typeof sid === "string" ? sessions.get(sid) : undefined;
    if (!transport) {
      if (req.method !== "POST" || sid) {
        res
          .writeHead(sid ? 404 : 400, { "content-type": "application/json" })
          .end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32000, message: "no session" } }));
        return;
      }
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: true,
        onsessioninitialized: (id) => {
          sessions.set(id, transport!);
          stats.opened++;
          stats.open = sessions.size;
        },
      });
      transport.onclose = () => {
        if (transport?.sessionId) sessions.delete(transport.sessionId);
        stats.open = sessions.size;
      };
      await build(tools).connect(transport);
    }
    await transport.handleRequest(req, res, body);
  });
  http.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const { port } = http.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    stats,
    close: () => new Promise((r) => (http.closeAllConnections(), http.close(() => r()))),
  };
}
