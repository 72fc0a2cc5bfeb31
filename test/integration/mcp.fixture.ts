/**
 * Shared setup of the MCP gateway tests: two real server-everything upstreams (one per tenant),
 * the whole stack under workerd, and users in different tenants; plus SDK client helpers.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage } from "node:http";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import {
  CallToolRequestSchema,
  CreateMessageResultSchema,
  ElicitResultSchema,
  ListRootsResultSchema,
  ListToolsRequestSchema,
  McpError,
  type ClientCapabilities,
} from "@modelcontextprotocol/sdk/types.js";
import { freePort } from "../../scripts/lib/ports";
import { startEverything, type Upstream } from "../../scripts/lib/upstreams";
import { startTestStack, type TestStack } from "../harness/stack";

export interface McpFixture {
  t: TestStack;
  alpha: Upstream;
  beta: Upstream;
  /** alice: group acme-users -> tenant acme -> server alpha. */
  alice: string;
  /** bob: group globex-users -> tenant globex -> server beta. */
  bob: string;
  /** nobody: a known user in no group. */
  nobody: string;
  stop(): Promise<void>;
}

/** Starts the upstreams and the stack and creates tenants, servers, groups and users. */
export async function startMcpFixture(env: Record<string, string> = {}): Promise<McpFixture> {
  const [alpha, beta] = await Promise.all([startEverything("alpha"), startEverything("beta")]);
  let t: TestStack;
  try {
    t = await startTestStack({ env });
  } catch (err) {
    await Promise.all([alpha.proc.stop(), beta.proc.stop()]);
    throw err;
  }
  const sql = t.db.sql;
  await sql`INSERT INTO tenants (id, name) VALUES ('acme', 'Acme'), ('globex', 'Globex')`;
  await sql`INSERT INTO servers (id, tenant_id, url, headers) VALUES
    ('alpha', 'acme', ${alpha.url}, ${sql.json({ "X-Upstream-Secret": "alpha-secret" })}),
    ('beta', 'globex', ${beta.url}, ${sql.json({})})`;
  await sql`INSERT INTO groups (name) VALUES ('acme-users'), ('globex-users')`;
  await sql`INSERT INTO group_tenant_mapping (group_name, tenant_id) VALUES ('acme-users', 'acme'), ('globex-users', 'globex')`;
  const alice = await t.userKey("alice@acme.test", { groups: ["acme-users"] });
  const bob = await t.userKey("bob@globex.test", { groups: ["globex-users"] });
  const nobody = await t.userKey("nobody@acme.test");
  return {
    t,
    alpha,
    beta,
    alice,
    bob,
    nobody,
    async stop() {
      await t.stop();
      await Promise.all([alpha.proc.stop(), beta.proc.stop()]);
    },
  };
}

/** An SDK client connected through the gateway at `path` with an API key. */
export async function gatewayClient(
  baseUrl: string,
  path: string,
  key: string,
  capabilities: ClientCapabilities = {},
): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name: "gateway-test", version: "1.0.0" }, { capabilities });
  const transport = new StreamableHTTPClientTransport(new URL(baseUrl + path), {
    requestInit: { headers: { Authorization: `Bearer ${key}` } },
  });
  await client.connect(transport);
  return { client, transport };
}

/** An SDK client connected straight to an upstream (the reference results). */
export async function directClient(url: string, capabilities: ClientCapabilities = {}): Promise<Client> {
  const client = new Client({ name: "direct-test", version: "1.0.0" }, { capabilities });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return client;
}

/** A raw JSON-RPC POST through the gateway; returns status, headers and the parsed body (JSON or SSE messages). */
export async function rawPost(
  baseUrl: string,
  path: string,
  key: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: any; messages: any[] }> {
  const res = await fetch(baseUrl + path, {
    method: "POST",
    headers: {
      authorization: `Bearer ${key}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...headers,
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: any = null;
  let messages: any[] = [];
  if ((res.headers.get("content-type") ?? "").includes("text/event-stream")) {
    messages = text
      .split(/\n\n/)
      .map((block) =>
        block
          .split("\n")
          .filter((l) => l.startsWith("data:"))
          .map((l) => l.slice(5).trim())
          .join("\n"),
      )
      .filter(Boolean)
      .map((d) => JSON.parse(d));
    parsed = messages[messages.length - 1] ?? null;
  } else if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
    messages = Array.isArray(parsed) ? parsed : parsed ? [parsed] : [];
  }
  return { status: res.status, headers: res.headers, body: parsed, messages };
}

/** initialize over raw HTTP; returns the session id and the result. */
export async function rawInitialize(
  baseUrl: string,
  path: string,
  key: string,
  protocolVersion = "2025-06-18",
  capabilities: Record<string, unknown> = {},
) {
  const r = await rawPost(baseUrl, path, key, {
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: { protocolVersion, capabilities, clientInfo: { name: "raw", version: "1" } },
  });
  return { status: r.status, session: r.headers.get("mcp-session-id"), result: r.body?.result, body: r.body };
}

/** What the asking upstream's server-to-client request came back with. */
export interface AskOutcome {
  method: string;
  /** "answered", "refused" (a JSON-RPC error came back) or "no answer" (nothing within 5 s). */
  outcome: "answered" | "refused" | "no answer";
  code?: number;
  message?: string;
}

export interface AskingUpstream {
  url: string;
  /** One entry per server-to-client request it sent, in order. */
  outcomes: AskOutcome[];
  stop(): Promise<void>;
}

/** The requests the asking upstream sends, whatever the client declared. */
export const ASKED_METHODS = ["sampling/createMessage", "elicitation/create", "roots/list"] as const;

/**
 * An upstream that does what a careless or hostile MCP server may do: its tool `ask-anyway` sends
 * sampling/createMessage, elicitation/create and roots/list to the client whatever capabilities
 * the client declared (the SDK 1.x low-level `Server` checks none unless told to), records how each
 * came back, and returns that as its result. No npm server asks regardless (server-everything
 * offers such tools only to clients that declared the capability), so the gateway's capability
 * filter is tested against this one.
 */
export async function startAskingUpstream(): Promise<AskingUpstream> {
  const port = await freePort();
  const outcomes: AskOutcome[] = [];
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const session = () => {
    const server = new Server({ name: "asker", version: "1.0.0" }, { capabilities: { tools: {} } });
    server.setRequestHandler(ListToolsRequestSchema, async () => ({
      tools: [
        {
          name: "ask-anyway",
          description: "asks the client for sampling, elicitation and roots",
          inputSchema: { type: "object", properties: {} },
        },
      ],
    }));
    server.setRequestHandler(CallToolRequestSchema, async (_req, extra) => {
      const asks = [
        [
          ASKED_METHODS[0],
          { messages: [{ role: "user", content: { type: "text", text: "what is six times seven" } }], maxTokens: 10 },
          CreateMessageResultSchema,
        ],
        [
          ASKED_METHODS[1],
          { message: "Your name?", requestedSchema: { type: "object", properties: { name: { type: "string" } } } },
          ElicitResultSchema,
        ],
        [ASKED_METHODS[2], {}, ListRootsResultSchema],
      ] as const;
      const mine: AskOutcome[] = [];
      for (const [method, params, schema] of asks) {
        try {
          await extra.sendRequest({ method, params } as never, schema as never, { timeout: 5000 });
          mine.push({ method, outcome: "answered" });
        } catch (err) {
          const timedOut = err instanceof McpError && /timed out/i.test(err.message);
          mine.push(
            timedOut
              ? { method, outcome: "no answer" }
              : { method, outcome: "refused", code: (err as McpError).code, message: (err as Error).message },
          );
        }
      }
      outcomes.push(...mine);
      return { content: [{ type: "text", text: JSON.stringify(mine) }] };
    });
    return server;
  };
  const readBody = async (req: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return chunks.length ? JSON.parse(Buffer.concat(chunks).toString("utf8")) : undefined;
  };
  const http = createServer(async (req, res) => {
    try {
      const sid = req.headers["mcp-session-id"];
      let transport = typeof sid === "string" ? transports.get(sid) : undefined;
      if (!transport) {
        if (sid)
          return void res
            .writeHead(404, { "content-type": "application/json" })
            .end('{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"Session not found"}}');
        const created = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          onsessioninitialized: (id) => void transports.set(id, created),
        });
        created.onclose = () => void (created.sessionId && transports.delete(created.sessionId));
        await session().connect(created);
        transport = created;
      }
      await transport.handleRequest(req, res, req.method === "POST" ? await readBody(req) : undefined);
    } catch (err) {
      if (!res.headersSent)
        res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ error: String(err) }));
    }
  });
  await new Promise<void>((resolve) => http.listen(port, "127.0.0.1", () => resolve()));
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    outcomes,
    stop: async () => {
      for (const t of transports.values()) await t.close().catch(() => {});
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}
