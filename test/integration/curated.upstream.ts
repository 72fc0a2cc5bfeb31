/**
 * A real MCP server whose tool definitions a test changes while the gateway runs, in one of
 * three kinds:
 * - `stateless` (default): the SDK 1.x low-level `Server` over stateless Streamable HTTP (a new
 *   server and transport per request, as the SDK requires since 1.26), a session-era server;
 * - `session`: the same with real `Mcp-Session-Id` sessions (one server and transport per session);
 * - `modern`: 2026-07-28 only, the SDK 2.x low-level `Server` behind `createMcpHandler` (session-era
 *   requests refused), stateless.
 * With `others` (session-era kinds only) it also serves prompts, resources and resource templates,
 * which `setOthers` replaces; `prompts/get` answers `<name>: <arguments>` and a read `read <uri>`.
 * `POST /control` `{"tools": [...]}` (or `setTools`) replaces the tool list; it never announces
 * the change, so the gateway's catalog learns of it only when it lists again. `pageSize` pages
 * tools/list. Every tool answers `tools/call` with `<name>: <arguments as JSON>` so a test sees
 * which upstream tool ran, with what.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server as HttpServer } from "node:http";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import {
  CallToolRequestSchema,
  GetPromptRequestSchema,
  isInitializeRequest,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  type Prompt,
  type Resource,
  type ResourceTemplate,
  type Tool,
} from "@modelcontextprotocol/sdk/types.js";
import { createMcpHandler, Server as Server2, type Tool as Tool2 } from "@modelcontextprotocol/server";
import { listenFetch } from "../../scripts/lib/modern-upstream";
import { freePort } from "../../scripts/lib/ports";

export type MutableKind = "stateless" | "session" | "modern";

/** The prompts, resources and templates a mutable upstream lists besides its tools. */
export interface Others {
  prompts: Prompt[];
  resources: Resource[];
  resourceTemplates: ResourceTemplate[];
}

export interface MutableUpstream {
  url: string;
  kind: MutableKind;
  /** Replaces the tool list (what the next tools/list answers). */
  setTools(tools: Tool[]): void;
  /** Replaces the prompts, resources and templates (`others` servers only). */
  setOthers(others: Others): void;
  /** prompts/get and resources/read requests received, in order (`prompt:<name>`, `read:<uri>`). */
  uses: string[];
  /** Upstream tool calls received, in order. */
  calls: { name: string; arguments: unknown }[];
  /** tools/list requests received (each page counts). */
  lists: number;
  /** Sessions opened (`session` only). */
  sessions: number;
  stop(): Promise<void>;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  return text ? JSON.parse(text) : undefined;
}

export async function startMutableUpstream(
  initial: Tool[],
  opts: { kind?: MutableKind; pageSize?: number; others?: Others } = {},
): Promise<MutableUpstream> {
  const kind = opts.kind ?? "stateless";
  let tools = initial;
  let others = opts.others;
  const up = {
    url: "",
    kind,
    setTools: (t: Tool[]) => void (tools = t),
    setOthers: (o: Others) => void (others = o),
    uses: [] as string[],
    calls: [] as MutableUpstream["calls"],
    lists: 0,
    sessions: 0,
    stop: async () => {},
  };
  const page = (cursor: unknown) => {
    up.lists++;
    const size = opts.pageSize ?? Number.MAX_SAFE_INTEGER;
    const start = typeof cursor === "string" ? Number(cursor) : 0;
    const end = start + size;
    return { tools: tools.slice(start, end), ...(end < tools.length ? { nextCursor: String(end) } : {}) };
  };
  const call = (name: string, args: unknown) => {
    up.calls.push({ name, arguments: args });
    return { content: [{ type: "text" as const, text: `${name}: ${JSON.stringify(args ?? {})}` }] };
  };

  if (kind === "modern") {
    const handler = createMcpHandler(
      () => {
        const server = new Server2({ name: "mutable-modern", version: "2.0.0" }, { capabilities: { tools: {} } });
        server.setRequestHandler(
          "tools/list",
          async (r) => page(r.params?.cursor) as { tools: Tool2[]; nextCursor?: string },
        );
        server.setRequestHandler("tools/call", async (r) => {
          if (!tools.some((t) => t.name === r.params.name))
            return { content: [{ type: "text", text: `Unknown tool: ${r.params.name}` }], isError: true };
          return call(r.params.name, r.params.arguments);
        });
        return server;
      },
      { legacy: "reject" },
    );
    const http = await listenFetch(async (request, raw) => {
      if (new URL(request.url).pathname === "/control") {
        tools = (JSON.parse(raw.toString("utf8")) as { tools: Tool[] }).tools;
        return new Response(null, { status: 204 });
      }
      return handler.fetch(request);
    });
    up.url = `http://127.0.0.1:${http.port}/mcp`;
    up.stop = async () => {
      await handler.close();
      await http.close();
    };
    return up;
  }

  const newServer = () => {
    const server = new Server(
      { name: "mutable-upstream", version: "1.0.0" },
      { capabilities: { tools: { listChanged: true }, ...(others ? { prompts: {}, resources: {} } : {}) } },
    );
    if (others) {
      server.setRequestHandler(ListPromptsRequestSchema, async () => ({ prompts: others!.prompts }));
      server.setRequestHandler(GetPromptRequestSchema, async (r) => {
        up.uses.push(`prompt:${r.params.name}`);
        return {
          messages: [
            {
              role: "user",
              content: { type: "text", text: `${r.params.name}: ${JSON.stringify(r.params.arguments ?? {})}` },
            },
          ],
        };
      });
      server.setRequestHandler(ListResourcesRequestSchema, async () => ({ resources: others!.resources }));
      server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({
        resourceTemplates: others!.resourceTemplates,
      }));
      server.setRequestHandler(ReadResourceRequestSchema, async (r) => {
        up.uses.push(`read:${r.params.uri}`);
        return { contents: [{ uri: r.params.uri, text: `read ${r.params.uri}` }] };
      });
    }
    server.setRequestHandler(
      ListToolsRequestSchema,
      async (r) => page(r.params?.cursor) as { tools: Tool[]; nextCursor?: string },
    );
    server.setRequestHandler(CallToolRequestSchema, async (r) => {
      if (!tools.some((t) => t.name === r.params.name)) throw new McpError(-32602, `Unknown tool: ${r.params.name}`);
      return call(r.params.name, r.params.arguments);
    });
    return server;
  };
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const port = await freePort();
  const http: HttpServer = createServer(async (req, res) => {
    try {
      if (req.url === "/control" && req.method === "POST") {
        tools = ((await readJson(req)) as { tools: Tool[] }).tools;
        res.writeHead(204).end();
        return;
      }
      if (!req.url?.startsWith("/mcp")) return void res.writeHead(404).end();
      const body = req.method === "POST" ? await readJson(req) : undefined;
      if (kind === "session") {
        const sid = req.headers["mcp-session-id"];
        let transport = typeof sid === "string" ? sessions.get(sid) : undefined;
        if (!transport) {
          if (sid !== undefined || !isInitializeRequest(body))
            return void res
              .writeHead(404, { "content-type": "application/json" })
              .end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32001, message: "Session not found" } }));
          const t: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
            sessionIdGenerator: () => randomUUID(),
            enableJsonResponse: true,
            onsessioninitialized: (id) => {
              up.sessions++;
              sessions.set(id, t);
            },
          });
          t.onclose = () => {
            if (t.sessionId) sessions.delete(t.sessionId);
          };
          await newServer().connect(t);
          transport = t;
        }
        await transport.handleRequest(req, res, body);
        return;
      }
      const server = newServer();
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      res.on("close", () => {
        void transport.close();
        void server.close();
      });
      await server.connect(transport);
      await transport.handleRequest(req, res, body);
    } catch (err) {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" }).end(String(err));
    }
  });
  await new Promise<void>((ok) => http.listen(port, "127.0.0.1", ok));
  up.url = `http://127.0.0.1:${port}/mcp`;
  up.stop = async () => {
    for (const t of sessions.values()) await t.close().catch(() => {});
    const closed = new Promise<void>((ok) => http.close(() => ok()));
    http.closeAllConnections();
    await closed;
  };
  return up;
}
