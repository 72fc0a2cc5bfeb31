/**
 * Upstreams for the catalog tests that the npm servers cannot play:
 * - a tiny MCP server (the 1.x SDK's own `Server` over Streamable HTTP, stateless: a session-era
 *   server) whose tools the test changes at will, which records the headers and methods it receives;
 *   calls are answered when asked (`answerCalls`);
 * - a modern (2026-07-28) server that pages its tools;
 * - a server that answers with redirects;
 * - a "hanging" upstream that accepts connections and never answers;
 * - an address where nothing listens.
 */
import { createServer, type IncomingMessage, type Server as HttpServer } from "node:http";
import { createServer as createTcpServer, type Socket } from "node:net";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import {
  CallToolRequestSchema,
  ListPromptsRequestSchema,
  ListToolsRequestSchema,
  type Prompt,
  type Tool,
} from "@modelcontextprotocol/sdk/types.js";
import { createMcpHandler, Server as Server2, type Tool as Tool2 } from "@modelcontextprotocol/server";
import { listenFetch } from "../../scripts/lib/modern-upstream";
import { freePort } from "../../scripts/lib/ports";

export interface TinyUpstream {
  url: string;
  tools: Tool[];
  prompts: Prompt[];
  /** When set, tools/list answers pages of this many tools, linked by `nextCursor`. */
  pageSize?: number;
  /** When set, requests without this `X-Upstream-Secret` get 401. */
  requireSecret?: string;
  /** When true, tools/call answers `tiny called <name>` (else: method not found). */
  answerCalls?: boolean;
  /** Request headers of every HTTP request received (lower-case names). */
  seen: IncomingMessage["headers"][];
  /** JSON-RPC methods of every POST received, in order. */
  methods: string[];
  stop(): Promise<void>;
}

/** A tool definition with a given name and description. */
export const tool = (name: string, description = `${name} tool`): Tool => ({
  name,
  description,
  inputSchema: { type: "object", properties: {} },
});

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  return text ? JSON.parse(text) : undefined;
}

/** Starts a tiny MCP server listing `tools` (and `prompts` when non-empty); change them any time. */
export async function startTinyUpstream(tools: Tool[], prompts: Prompt[] = [], port?: number): Promise<TinyUpstream> {
  port ??= await freePort();
  const up: TinyUpstream = {
    url: `http://127.0.0.1:${port}/mcp`,
    tools,
    prompts,
    seen: [],
    methods: [],
    stop: async () => {},
  };
  const http: HttpServer = createServer(async (req, res) => {
    up.seen.push(req.headers);
    if (up.requireSecret && req.headers["x-upstream-secret"] !== up.requireSecret) {
      res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ error: "unauthorized" }));
      return;
    }
    try {
      const capabilities = up.prompts.length ? { tools: {}, prompts: {} } : { tools: {} };
      const server = new Server(
        { name: "tiny", version: "1.0.0" },
        { capabilities, instructions: "tiny test upstream" },
      );
      server.setRequestHandler(ListToolsRequestSchema, async (request) => {
        if (!up.pageSize) return { tools: up.tools };
        const start = Number(request.params?.cursor ?? 0);
        const end = start + up.pageSize;
        return { tools: up.tools.slice(start, end), ...(end < up.tools.length ? { nextCursor: String(end) } : {}) };
      });
      if (up.prompts.length) server.setRequestHandler(ListPromptsRequestSchema, async () => ({ prompts: up.prompts }));
      if (up.answerCalls)
        server.setRequestHandler(CallToolRequestSchema, async (request) => ({
          content: [{ type: "text", text: `tiny called ${request.params.name}` }],
        }));
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      res.on("close", () => {
        void transport.close();
        void server.close();
      });
      await server.connect(transport);
      const body = req.method === "POST" ? await readBody(req) : undefined;
      if (body && typeof (body as { method?: unknown }).method === "string")
        up.methods.push((body as { method: string }).method);
      await transport.handleRequest(req, res, body);
    } catch (err) {
      if (!res.headersSent) res.writeHead(500).end(String(err));
    }
  });
  await new Promise<void>((r) => http.listen(port, "127.0.0.1", () => r()));
  up.stop = () =>
    new Promise<void>((r) => {
      http.close(() => r());
      http.closeAllConnections();
    });
  return up;
}

/**
 * A 2026-07-28-only upstream (SDK 2.x low-level Server behind createMcpHandler) that pages
 * tools/list `pageSize` at a time, may list tools the spec says a client must leave out, and
 * announces prompts and resources it does not implement.
 */
export async function startModernPagedUpstream(
  tools: Record<string, unknown>[],
  pageSize: number,
): Promise<{ url: string; stop(): Promise<void> }> {
  const handler = createMcpHandler(
    () => {
      // prompts and resources announced but not implemented: they answer 404 + -32601
      const server = new Server2(
        { name: "paged-modern", version: "2.0.0" },
        { capabilities: { tools: {}, prompts: {}, resources: {} }, instructions: "pages of tools" },
      );
      server.setRequestHandler("tools/list", async (request) => {
        const start = Number(request.params?.cursor ?? 0);
        const end = start + pageSize;
        return {
          tools: tools.slice(start, end) as Tool2[],
          ...(end < tools.length ? { nextCursor: String(end) } : {}),
          ttlMs: 5000,
          cacheScope: "private" as const,
        };
      });
      server.setRequestHandler("tools/call", async () => ({ content: [] }));
      return server;
    },
    { legacy: "reject" },
  );
  const http = await listenFetch((request) => handler.fetch(request));
  return {
    url: `http://127.0.0.1:${http.port}/mcp`,
    stop: async () => {
      await handler.close();
      await http.close();
    },
  };
}

/**
 * A server that answers `/mcp` with a redirect to `/moved` on the same origin (which a client
 * following same-origin redirects would take, secrets and all) and records what reaches `/moved`.
 */
export async function startRedirectingUpstream(
  status = 307,
): Promise<{ url: string; hits: number; moved: Record<string, string>[]; stop(): Promise<void> }> {
  const r = { url: "", hits: 0, moved: [] as Record<string, string>[], stop: async () => {} };
  const http = await listenFetch(async (request) => {
    if (new URL(request.url).pathname === "/moved") {
      r.moved.push(Object.fromEntries(request.headers));
      return new Response("{}", { status: 404, headers: { "content-type": "application/json" } });
    }
    r.hits++;
    return new Response(null, { status, headers: { location: "/moved" } });
  });
  r.url = `http://127.0.0.1:${http.port}/mcp`;
  r.stop = () => http.close();
  return r;
}

/** A TCP server that accepts connections and never answers. */
export async function startHangingUpstream(): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  const srv = createTcpServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
  });
  await new Promise<void>((r) => srv.listen(port, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    stop: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        srv.close(() => r());
      }),
  };
}

/** A loopback URL where nothing listens. */
export async function deadUrl(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}/mcp`;
}
