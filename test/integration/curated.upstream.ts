/**
 * A real MCP server whose tool definitions a test changes while the gateway runs: the SDK 1.x
 * low-level `Server` over stateless Streamable HTTP (a new server and transport per request, as
 * the SDK requires since 1.26), plus `POST /control` `{"tools": [...]}` replacing its tool list.
 * Every tool answers `tools/call` with `<name>: <arguments as JSON>` so a test sees which
 * upstream tool ran, with what.
 */
import { createServer, type IncomingMessage, type Server as HttpServer } from "node:http";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { CallToolRequestSchema, ListToolsRequestSchema, McpError, type Tool } from "@modelcontextprotocol/sdk/types.js";
import { freePort } from "../../scripts/lib/ports";

export interface MutableUpstream {
  url: string;
  /** Replaces the tool list (what the next tools/list answers). */
  setTools(tools: Tool[]): void;
  /** Upstream tool calls received, in order. */
  calls: { name: string; arguments: unknown }[];
  stop(): Promise<void>;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  return text ? JSON.parse(text) : undefined;
}

export async function startMutableUpstream(initial: Tool[]): Promise<MutableUpstream> {
  let tools = initial;
  const calls: MutableUpstream["calls"] = [];
  const port = await freePort();
  const http: HttpServer = createServer(async (req, res) => {
    try {
      if (req.url === "/control" && req.method === "POST") {
        const body = (await readJson(req)) as { tools: Tool[] };
        tools = body.tools;
        res.writeHead(204).end();
        return;
      }
      if (!req.url?.startsWith("/mcp")) return void res.writeHead(404).end();
      const server = new Server({ name: "mutable-upstream", version: "1.0.0" }, { capabilities: { tools: { listChanged: true } } });
      server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools }));
      server.setRequestHandler(CallToolRequestSchema, async (r) => {
        if (!tools.some((t) => t.name === r.params.name)) throw new McpError(-32602, `Unknown tool: ${r.params.name}`);
        calls.push({ name: r.params.name, arguments: r.params.arguments });
        return { content: [{ type: "text", text: `${r.params.name}: ${JSON.stringify(r.params.arguments ?? {})}` }] };
      });
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      res.on("close", () => {
        void transport.close();
        void server.close();
      });
      await server.connect(transport);
      await transport.handleRequest(req, res, req.method === "POST" ? await readJson(req) : undefined);
    } catch (err) {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" }).end(String(err));
    }
  });
  await new Promise<void>((ok) => http.listen(port, "127.0.0.1", ok));
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    setTools: (t) => void (tools = t),
    calls,
    stop: () => new Promise<void>((ok) => http.close(() => ok())),
  };
}
