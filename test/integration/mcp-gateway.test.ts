// Through /mcp/<server> an SDK client gets what it gets from the upstream directly; through /mcp
// the union, prefixed. Real server-everything upstreams, real workerd, real Postgres.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  type ClientCapabilities,
} from "@modelcontextprotocol/sdk/types.js";
import {
  ASKED_METHODS,
  directClient,
  gatewayClient,
  rawInitialize,
  rawPost,
  startAskingUpstream,
  startMcpFixture,
  type AskingUpstream,
  type AskOutcome,
  type McpFixture,
} from "./mcp.fixture";

// The capabilities the catalog lists upstreams with (conditional tools such as
// trigger-sampling-request exist only for clients that declare them).
const CAPS = { sampling: {}, elicitation: { form: {}, url: {} }, roots: { listChanged: true } };

let f: McpFixture;
let direct: Client;
let via: Client;
beforeAll(async () => {
  f = await startMcpFixture({ MCP_PAGE_SIZE: "4" });
  direct = await directClient(f.alpha.url, CAPS);
  via = (await gatewayClient(f.t.url, "/mcp/alpha", f.alice, CAPS)).client;
  for (const c of [direct, via]) {
    c.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [] }));
    c.setRequestHandler(CreateMessageRequestSchema, async () => ({
      role: "assistant",
      model: "test-model",
      content: { type: "text", text: "sampled" },
    }));
    c.setRequestHandler(ElicitRequestSchema, async () => ({ action: "decline" }));
  }
});
afterAll(async () => {
  await via?.close().catch(() => {});
  await direct?.close().catch(() => {});
  await f?.stop();
});

async function allTools(c: Client) {
  const out = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await c.listTools(cursor ? { cursor } : {});
    out.push(...page.tools);
    cursor = page.nextCursor;
    pages++;
  } while (cursor);
  return { tools: out, pages };
}

describe("/mcp/<server> is the upstream, as the user may see it", () => {
  it("initializes with the upstream's server info and instructions", () => {
    expect(via.getServerVersion()).toEqual(direct.getServerVersion());
    expect(via.getInstructions()).toEqual(direct.getInstructions());
    expect(via.getServerCapabilities()?.tools).toBeDefined();
  });

  it("lists the same tools (definitions, schemas, annotations), paged by cursor", async () => {
    const mine = await allTools(via);
    const ref = await allTools(direct);
    expect(mine.pages).toBeGreaterThan(1);
    expect(mine.tools).toEqual(ref.tools);
  });

  it("calls tools with the same results, structured content included", async () => {
    for (const [name, args] of [
      ["echo", { message: "hello through the gateway" }],
      ["get-sum", { a: 2, b: 40 }],
      ["get-structured-content", { location: "New York" }],
      ["get-tiny-image", {}],
    ] as const) {
      const got = await via.callTool({ name, arguments: args });
      expect(got).toEqual(await direct.callTool({ name, arguments: args }));
    }
    const structured = await via.callTool({ name: "get-structured-content", arguments: { location: "Chicago" } });
    expect(structured.structuredContent).toBeDefined();
  });

  it("gets the same prompts, resources, templates and completions", async () => {
    const pages = async (c: Client, list: (cursor?: string) => Promise<any>, key: string) => {
      const out: unknown[] = [];
      let cursor: string | undefined;
      do {
        const p = await list(cursor);
        out.push(...p[key]);
        cursor = p.nextCursor;
      } while (cursor);
      return out;
    };
    expect(await pages(via, (cursor) => via.listPrompts(cursor ? { cursor } : {}), "prompts")).toEqual(
      await pages(direct, (cursor) => direct.listPrompts(cursor ? { cursor } : {}), "prompts"),
    );
    const resources = await pages(via, (cursor) => via.listResources(cursor ? { cursor } : {}), "resources");
    expect(resources).toEqual(
      await pages(direct, (cursor) => direct.listResources(cursor ? { cursor } : {}), "resources"),
    );
    expect(await via.listResourceTemplates()).toEqual(await direct.listResourceTemplates());
    const args = { name: "args-prompt", arguments: { city: "Paris", state: "IDF" } };
    expect(await via.getPrompt(args)).toEqual(await direct.getPrompt(args));
    const uri = (resources[0] as { uri: string }).uri;
    expect(await via.readResource({ uri })).toEqual(await direct.readResource({ uri }));
    const dynamic = "demo://resource/dynamic/text/3";
    const dyn = await via.readResource({ uri: dynamic });
    expect(dyn.contents[0]).toMatchObject({
      uri: dynamic,
      mimeType: "text/plain",
      text: expect.stringMatching(/^Resource 3: This is a plaintext resource/),
    });
    const complete = {
      ref: { type: "ref/prompt" as const, name: "completable-prompt" },
      argument: { name: "department", value: "E" },
    };
    const got = await via.complete(complete);
    expect(got).toEqual(await direct.complete(complete));
    expect(got.completion.values).toEqual(["Engineering"]);
    const templates = (await via.listResourceTemplates()).resourceTemplates;
    const rc = {
      ref: { type: "ref/resource" as const, uri: templates[0]!.uriTemplate },
      argument: { name: "resourceId", value: "1" },
    };
    expect(await via.complete(rc)).toEqual(await direct.complete(rc));
    await via.subscribeResource({ uri });
    await via.unsubscribeResource({ uri });
    await via.setLoggingLevel("debug");
    expect(await via.ping()).toEqual({});
  });

  it("relays progress notifications while a tool runs", async () => {
    const seen: number[] = [];
    const ref: number[] = [];
    const args = { name: "trigger-long-running-operation", arguments: { duration: 1, steps: 3 } };
    const got = await via.callTool(args, undefined, { onprogress: (p) => seen.push(p.progress) });
    const want = await direct.callTool(args, undefined, { onprogress: (p) => ref.push(p.progress) });
    expect(got).toEqual(want);
    expect(seen).toEqual(ref);
    expect(seen.length).toBe(3);
  });

  it("relays a server-to-client request (roots/list) and the logging notification that follows", async () => {
    let asked = 0;
    const logs: string[] = [];
    const { client } = await gatewayClient(f.t.url, "/mcp/alpha", f.alice, { roots: { listChanged: true } });
    client.setRequestHandler(ListRootsRequestSchema, async () => {
      asked++;
      return {
        roots: [
          { uri: "file:///tmp/one", name: "one" },
          { uri: "file:///tmp/two", name: "two" },
        ],
      };
    });
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(String(n.params.data)));
    // the upstream asks for roots right after its session opens (on the standalone stream)
    await client.callTool({ name: "echo", arguments: { message: "open the upstream session" } });
    await expect
      .poll(() => logs.find((l) => l.startsWith("Roots updated")), { timeout: 10_000 })
      .toBe("Roots updated: 2 root(s) received from client");
    expect(asked).toBe(1);
    await client.close();
  });

  it("relays sampling and elicitation requests to the client and its answers back upstream", async () => {
    const prompts: string[] = [];
    const { client } = await gatewayClient(f.t.url, "/mcp/alpha", f.alice, CAPS);
    client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [] }));
    client.setRequestHandler(CreateMessageRequestSchema, async (r) => {
      prompts.push(JSON.stringify(r.params.messages));
      return { role: "assistant", model: "gateway-test-model", content: { type: "text", text: "forty-two" } };
    });
    const elicitations: string[] = [];
    client.setRequestHandler(ElicitRequestSchema, async (r) => {
      elicitations.push(r.params.message);
      return { action: "accept", content: { name: "Ada Lovelace", check: true } };
    });
    const sampled = await client.callTool({
      name: "trigger-sampling-request",
      arguments: { prompt: "what is six times seven", maxTokens: 10 },
    });
    expect(prompts[0]).toContain("what is six times seven");
    expect((sampled.content as { text: string }[])[0]!.text).toContain("gateway-test-model");
    expect((sampled.content as { text: string }[])[0]!.text).toContain("forty-two");
    const elicited = await client.callTool({ name: "trigger-elicitation-request", arguments: {} });
    const text = (elicited.content as { text: string }[]).map((c) => c.text).join("\n");
    expect(text).toContain("User provided the requested information");
    expect(text).toContain("- Name: Ada Lovelace");
    expect(elicitations).toEqual(["Please provide inputs for the following fields:"]);
    await client.close();
  });

  it("refuses server-to-client requests upstream when the client takes JSON answers only", async () => {
    const init = await rawInitialize(f.t.url, "/mcp/alpha", f.alice, "2025-06-18", { sampling: {} });
    const r = await rawPost(
      f.t.url,
      "/mcp/alpha",
      f.alice,
      {
        jsonrpc: "2.0",
        id: 11,
        method: "tools/call",
        params: { name: "trigger-sampling-request", arguments: { prompt: "p" } },
      },
      { "mcp-session-id": init.session!, accept: "application/json" },
    );
    expect(r.headers.get("content-type")).toContain("application/json");
    expect(r.body.id).toBe(11);
    expect(r.body.result.isError).toBe(true);
    expect(JSON.stringify(r.body.result.content)).toContain("sampling/createMessage");
  });
});

describe("server-to-client requests for capabilities the client did not declare", () => {
  // an upstream that asks for sampling, elicitation and roots whatever the client declared
  let asker: AskingUpstream;
  let dana: string;
  beforeAll(async () => {
    asker = await startAskingUpstream();
    const sql = f.t.db.sql;
    await sql`INSERT INTO tenants (id, name) VALUES ('lab', 'Lab')`;
    await sql`INSERT INTO servers (id, tenant_id, url) VALUES ('asker', 'lab', ${asker.url})`;
    await sql`INSERT INTO groups (name) VALUES ('lab-users')`;
    await sql`INSERT INTO group_tenant_mapping (group_name, tenant_id) VALUES ('lab-users', 'lab')`;
    dana = await f.t.userKey("dana@lab.test", { groups: ["lab-users"] });
  });
  afterAll(() => asker?.stop());

  /** Calls ask-anyway as a client with `caps` (answering what it declared); what it was asked, and what the upstream saw. */
  async function ask(path: string, tool: string, caps: ClientCapabilities) {
    const received: string[] = [];
    const { client } = await gatewayClient(f.t.url, path, dana, caps);
    const answer = (method: string, result: Record<string, unknown>) => async () => (received.push(method), result);
    if (caps.sampling)
      client.setRequestHandler(
        CreateMessageRequestSchema,
        answer("sampling/createMessage", { role: "assistant", model: "m", content: { type: "text", text: "42" } }),
      );
    if (caps.elicitation)
      client.setRequestHandler(ElicitRequestSchema, answer("elicitation/create", { action: "decline" }));
    if (caps.roots) client.setRequestHandler(ListRootsRequestSchema, answer("roots/list", { roots: [] }));
    client.fallbackRequestHandler = async (r) => (received.push(r.method), {});
    const before = asker.outcomes.length;
    const result = (await client.callTool({ name: tool, arguments: {} })) as { content: { text: string }[] };
    await client.close();
    return {
      received,
      outcomes: asker.outcomes.slice(before),
      reported: JSON.parse(result.content[0]!.text) as AskOutcome[],
    };
  }
  const refused = (method: string) => ({
    method,
    outcome: "refused",
    code: -32601,
    message: expect.stringContaining(method),
  });

  it("never sends them to a client that declared none, on /mcp/<server> and /mcp: the upstream gets a refusal for each", async () => {
    for (const [path, tool] of [
      ["/mcp/asker", "ask-anyway"],
      ["/mcp", "asker__ask-anyway"],
    ] as const) {
      const { received, outcomes, reported } = await ask(path, tool, {});
      expect(received, path).toEqual([]);
      expect(outcomes, path).toEqual(ASKED_METHODS.map(refused));
      expect(reported, path).toEqual(outcomes);
    }
  });

  it("sends a client only what it declared (sampling): the rest is refused upstream", async () => {
    const { received, outcomes } = await ask("/mcp/asker", "ask-anyway", { sampling: {} });
    expect(received).toEqual(["sampling/createMessage"]);
    expect(outcomes).toEqual([
      { method: "sampling/createMessage", outcome: "answered" },
      refused("elicitation/create"),
      refused("roots/list"),
    ]);
  });

  it("relays all three to a client that declared them, and its answers back (control: the upstream does ask)", async () => {
    const { received, outcomes } = await ask("/mcp/asker", "ask-anyway", CAPS);
    expect(received).toEqual([...ASKED_METHODS]);
    expect(outcomes).toEqual(ASKED_METHODS.map((method) => ({ method, outcome: "answered" })));
  });
});

describe("/mcp is the union of the user's servers", () => {
  it("lists every granted server's tools and prompts as <server>__<name> and calls them", async () => {
    const carol = await f.t.userKey("carol@both.test", { groups: ["acme-users", "globex-users"] });
    const { client } = await gatewayClient(f.t.url, "/mcp", carol);
    const { tools } = await allTools(client);
    const ref = (await allTools(direct)).tools;
    const names = tools.map((t) => t.name).sort();
    expect(names).toEqual([...ref.map((t) => `alpha__${t.name}`), ...ref.map((t) => `beta__${t.name}`)].sort());
    for (const t of tools) expect(t.name).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    const echo = tools.find((t) => t.name === "beta__echo")!;
    expect({ ...echo, name: "echo" }).toEqual(ref.find((t) => t.name === "echo"));
    expect(await client.callTool({ name: "beta__echo", arguments: { message: "via beta" } })).toEqual(
      await direct.callTool({ name: "echo", arguments: { message: "via beta" } }),
    );
    const prompts: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.listPrompts(cursor ? { cursor } : {});
      prompts.push(...page.prompts.map((p) => p.name));
      cursor = page.nextCursor;
    } while (cursor);
    expect(prompts).toContain("alpha__simple-prompt");
    expect(prompts).toContain("beta__simple-prompt");
    const got = await client.getPrompt({ name: "alpha__args-prompt", arguments: { city: "Rome" } });
    expect(got).toEqual(await direct.getPrompt({ name: "args-prompt", arguments: { city: "Rome" } }));
    const complete = await client.complete({
      ref: { type: "ref/prompt", name: "beta__completable-prompt" },
      argument: { name: "department", value: "S" },
    });
    expect(complete.completion.values).toEqual(["Sales", "Support"]);
    expect(client.getInstructions()).toContain("alpha");
    await client.close();
  });

  it("relays server-initiated messages of the servers a session uses on its GET stream", async () => {
    const logs: string[] = [];
    let asked = 0;
    const { client } = await gatewayClient(f.t.url, "/mcp", f.alice, { roots: { listChanged: true } });
    client.setRequestHandler(ListRootsRequestSchema, async () => {
      asked++;
      return { roots: [{ uri: "file:///tmp/agg", name: "agg" }] };
    });
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(String(n.params.data)));
    await client.callTool({ name: "alpha__echo", arguments: { message: "open alpha" } });
    await expect
      .poll(() => logs.find((l) => l.startsWith("Roots updated")), { timeout: 10_000 })
      .toBe("Roots updated: 1 root(s) received from client");
    expect(asked).toBe(1);
    await client.close();
  });

  it("records every tool call in the audit log, without arguments", async () => {
    const { client } = await gatewayClient(f.t.url, "/mcp", f.alice);
    await client.callTool({ name: "alpha__echo", arguments: { message: "audit-me-secret" } });
    await client.callTool({ name: "beta__echo", arguments: { message: "audit-me-secret" } }).catch(() => {});
    await expect
      .poll(
        async () =>
          (
            await f.t.db
              .sql`SELECT actor, server_id, tool, outcome, duration_ms, detail::text AS detail FROM audit_log WHERE kind = 'tool_call' AND actor = 'alice@acme.test' ORDER BY id`
          ).map((r) => ({ ...r })),
        { timeout: 5000 },
      )
      .toEqual(
        expect.arrayContaining([
          expect.objectContaining({ server_id: "alpha", tool: "echo", outcome: "ok" }),
          expect.objectContaining({ server_id: null, tool: "beta__echo", outcome: "denied" }),
        ]),
      );
    const rows = await f.t.db.sql`SELECT detail::text AS d, target FROM audit_log WHERE kind = 'tool_call'`;
    for (const r of rows) expect(`${r.d} ${r.target}`).not.toContain("audit-me-secret");
    await client.close();
  });
});
