/**
 * Shared setup of the MCP gateway tests: two real server-everything upstreams (one per tenant),
 * the whole stack under workerd, and users in different tenants; plus SDK client helpers.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { ClientCapabilities } from "@modelcontextprotocol/sdk/types.js";
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
export async function gatewayClient(baseUrl: string, path: string, key: string, capabilities: ClientCapabilities = {}): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name: "gateway-test", version: "1.0.0" }, { capabilities });
  const transport = new StreamableHTTPClientTransport(new URL(baseUrl + path), { requestInit: { headers: { Authorization: `Bearer ${key}` } } });
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
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: any = null;
  let messages: any[] = [];
  if ((res.headers.get("content-type") ?? "").includes("text/event-stream")) {
    messages = text
      .split(/\n\n/)
      .map((block) => block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n"))
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
export async function rawInitialize(baseUrl: string, path: string, key: string, protocolVersion = "2025-06-18", capabilities: Record<string, unknown> = {}) {
  const r = await rawPost(baseUrl, path, key, { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion, capabilities, clientInfo: { name: "raw", version: "1" } } });
  return { status: r.status, session: r.headers.get("mcp-session-id"), result: r.body?.result, body: r.body };
}
