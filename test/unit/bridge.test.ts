// The dispatcher and the bridge inside workerd, against in-memory upstreams (the issue asks for
// exactly this: each direction of the bridge without network). Postgres is replaced by an
// in-memory table of the operations these modules use - a stand-in for unit speed; the same
// paths run against real Postgres and real upstreams in test/integration/mcp-modern.test.ts and
// mcp-bridge.test.ts.
import { describe, expect, it } from "vitest";
import type { JsonRpcMessage, JsonRpcRequest, JsonRpcResponse } from "../../shared/mcp/jsonrpc";
import { itemHash } from "../../shared/repos/item-hash";
import { deliverInputAnswer, forward, type Outgoing } from "../../workers/mcp/src/bridge/bridge";
import type { CatalogServer, UserCatalog } from "../../workers/mcp/src/catalog.client";
import type { McpDb } from "../../workers/mcp/src/db";
import type { ClientView, RequestContext, UpstreamSet } from "../../workers/mcp/src/dispatch/context";
import { Dispatcher } from "../../workers/mcp/src/dispatch/dispatcher";
import { McpEnv } from "../../workers/mcp/src/env";
import { openRelayedId, openTaskId } from "../../workers/mcp/src/tokens";
import type { Relay, ReplyTo, Upstream } from "../../workers/mcp/src/upstream/upstream";

const SECRET = "unit-test-session-secret-0123456789abcdef";
const env = McpEnv.parse({
  DATABASE_URL: "postgres://unit@127.0.0.1/unit",
  IDENTITY_SECRET: "unit-test-identity-secret-0123456789abcdef",
  SESSION_SECRET: SECRET,
  SERVICE_SECRET: "unit-test-service-secret-0123456789abcdef",
  PUBLIC_URL: "https://gateway.example.com",
});

/** The operations of the mcp worker's pool these modules use, in memory. */
function memoryDb() {
  const mailbox: { id: number; box: string; item: unknown }[] = [];
  const claims = new Set<string>();
  const levels = new Map<string, string>();
  const audit: unknown[] = [];
  const ops: Record<string, (...a: any[]) => unknown> = {
    putMailbox: (box: string, item: unknown) =>
      void mailbox.push({ id: mailbox.length + 1, box, item: structuredClone(item) }),
    readMailbox: (box: string, after: number) =>
      mailbox.filter((m) => m.box === box && m.id > after).map(({ id, item }) => ({ id, item })),
    claimMailbox: (box: string) => (claims.has(box) ? false : (claims.add(box), true)),
    setSessionLevel: (sid: string, level: string) => void levels.set(sid, level),
    sessionLevel: (sid: string) => levels.get(sid) ?? null,
    insertToolCalls: (rows: unknown[]) => void audit.push(...rows),
  };
  const db = { run: async (op: string, ...args: unknown[]) => ops[op]!(...args) } as unknown as McpDb;
  return { db, audit };
}

function server(id: string, era: "modern" | "legacy", extra: Partial<CatalogServer> = {}): CatalogServer {
  return {
    id,
    tenant: "t",
    url: `http://${id}.invalid/mcp`,
    transport: "streamable-http",
    headers: {},
    era,
    protocolVersion: era === "modern" ? "2026-07-28" : "2025-11-25",
    tools: [
      { name: "zeta", inputSchema: { type: "object" } },
      { name: "ask", inputSchema: { type: "object" } },
      { name: "alpha", inputSchema: { type: "object" } },
    ],
    prompts: [],
    resources: [{ uri: "mem://b" }, { uri: "mem://a" }],
    resourceTemplates: [],
    ...extra,
  } as CatalogServer;
}

/** An in-memory upstream: `handle` answers each request it is sent with the relays it returns. */
function memoryUpstreams(handle: (req: JsonRpcRequest, n: number) => Relay[] | Promise<Relay[]>) {
  const sent: JsonRpcRequest[] = [];
  const answered: { reply: ReplyTo; message: JsonRpcResponse }[] = [];
  const waiters: (() => void)[] = [];
  const upstream: Upstream = {
    async *send(_call, req) {
      sent.push(structuredClone(req));
      for (const r of await handle(req, sent.length)) yield r;
    },
  };
  const set: UpstreamSet = {
    of: () => upstream,
    answer: async (_s, reply, message) => {
      answered.push({ reply, message });
      for (const w of waiters.splice(0)) w();
      return 202;
    },
  };
  const nextAnswer = () => new Promise<void>((r) => waiters.push(r));
  return { set, sent, answered, nextAnswer };
}

function context(opts: {
  client: Partial<ClientView> & { era: ClientView["era"] };
  servers: CatalogServer[];
  upstreams?: UpstreamSet;
  email?: string;
  scope?: string;
  db?: McpDb;
  sid?: string;
}): RequestContext {
  const catalog: UserCatalog = {
    email: opts.email ?? "ada@example.com",
    known: true,
    isAdmin: false,
    groups: ["g"],
    servers: opts.servers,
  };
  const later: Promise<unknown>[] = [];
  return {
    env,
    identity: { email: opts.email ?? "ada@example.com", groups: ["g"], admin: false, via: "apikey" },
    scope: opts.scope ?? opts.servers[0]!.id,
    catalog,
    db: opts.db ?? memoryDb().db,
    catalogBinding: { fetch: async () => new Response(null, { status: 202 }) } as unknown as Fetcher,
    later: (p) => void later.push(p.catch(() => {})),
    signal: new AbortController().signal,
    client: {
      version: opts.client.era === "modern" ? "2026-07-28" : "2025-11-25",
      caps: {},
      canReceiveRequests: opts.client.era === "legacy",
      ...opts.client,
    } as ClientView,
    ...(opts.client.era === "legacy"
      ? {
          session: {
            sid: opts.sid ?? crypto.randomUUID(),
            email: opts.email ?? "ada@example.com",
            scope: opts.scope ?? opts.servers[0]!.id,
            v: "2025-11-25",
            caps: opts.client.caps ?? {},
            iat: 0,
          },
        }
      : {}),
    ...(opts.upstreams ? { upstreams: opts.upstreams } : {}),
  };
}

const call = (
  name: string,
  args: Record<string, unknown> = {},
  id: number | string = 1,
  extra: Record<string, unknown> = {},
): JsonRpcRequest => ({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: args, ...extra } });

async function all(gen: AsyncGenerator<Outgoing>): Promise<JsonRpcMessage[]> {
  const out: JsonRpcMessage[] = [];
  for await (const m of gen) if (!("marker" in m)) out.push(m);
  return out;
}

const last = (ms: JsonRpcMessage[]) => ms.at(-1) as JsonRpcResponse;

describe("the dispatcher", () => {
  it("lists as each era wants it: modern with cache hints, both in the snapshot's deterministic order", async () => {
    const s = server("one", "legacy");
    const modern = last(
      await all(
        new Dispatcher(context({ client: { era: "modern" }, servers: [s] })).handle({
          jsonrpc: "2.0",
          id: 1,
          method: "tools/list",
        }),
      ),
    );
    expect(modern.result).toMatchObject({ ttlMs: 30000, cacheScope: "private" });
    expect((modern.result!.tools as { name: string }[]).map((t) => t.name)).toEqual(["zeta", "ask", "alpha"]);
    const legacy = last(
      await all(
        new Dispatcher(context({ client: { era: "legacy" }, servers: [s] })).handle({
          jsonrpc: "2.0",
          id: 1,
          method: "tools/list",
        }),
      ),
    );
    expect(legacy.result).not.toHaveProperty("ttlMs");
    expect((legacy.result!.tools as { name: string }[]).map((t) => t.name)).toEqual(["zeta", "ask", "alpha"]);
  });

  it("answers an unknown resource -32602 to modern clients, -32002 to the session era; refuses control characters in names", async () => {
    const s = server("one", "legacy");
    const read = { jsonrpc: "2.0" as const, id: 1, method: "resources/read", params: { uri: "mem://nope" } };
    expect(
      last(await all(new Dispatcher(context({ client: { era: "modern" }, servers: [s] })).handle(read))).error?.code,
    ).toBe(-32602);
    expect(
      last(await all(new Dispatcher(context({ client: { era: "legacy" }, servers: [s] })).handle(read))).error?.code,
    ).toBe(-32002);
    const { db, audit } = memoryDb();
    const nul = last(
      await all(new Dispatcher(context({ client: { era: "legacy" }, servers: [s], db })).handle(call("zeta\u0000"))),
    );
    expect(nul.error).toMatchObject({ code: -32602, message: expect.stringContaining("control characters") });
    await new Promise((r) => setTimeout(r, 300));
    expect(audit).toEqual([expect.objectContaining({ outcome: "denied", tool: "zeta\uFFFD" })]);
  });

  it("methods of one era only are not found in the other", async () => {
    const s = server("one", "legacy");
    expect(
      last(
        await all(
          new Dispatcher(context({ client: { era: "modern" }, servers: [s] })).handle({
            jsonrpc: "2.0",
            id: 1,
            method: "ping",
          }),
        ),
      ).error?.code,
    ).toBe(-32601);
    expect(
      last(
        await all(
          new Dispatcher(context({ client: { era: "legacy" }, servers: [s] })).handle({
            jsonrpc: "2.0",
            id: 1,
            method: "server/discover",
          }),
        ),
      ).error?.code,
    ).toBe(-32601);
  });
});

const ELICIT = {
  method: "elicitation/create",
  params: {
    mode: "form",
    message: "Your name?",
    requestedSchema: { type: "object", properties: { name: { type: "string" } } },
  },
};

describe("the bridge: session-era client, modern upstream", () => {
  it("turns input_required into a real server-to-client request and retries with the answer and the upstream's state", async () => {
    const up = memoryUpstreams((req, n) =>
      n === 1
        ? [
            {
              kind: "response",
              message: {
                jsonrpc: "2.0",
                id: req.id,
                result: {
                  resultType: "input_required",
                  inputRequests: { who: ELICIT },
                  requestState: "upstream-state-1",
                },
              },
            },
          ]
        : [
            {
              kind: "response",
              message: {
                jsonrpc: "2.0",
                id: req.id,
                result: {
                  resultType: "complete",
                  content: [{ type: "text", text: `hello ${(req.params!.inputResponses as any).who.content.name}` }],
                },
              },
            },
          ],
    );
    const ctx = context({
      client: { era: "legacy", caps: { elicitation: {} } },
      servers: [server("mod", "modern")],
      upstreams: up.set,
      sid: "sid-1",
    });
    const gen = forward(ctx, ctx.catalog.servers[0]!, call("ask", {}, 7));
    const asked = (await gen.next()).value as JsonRpcRequest;
    expect(asked).toMatchObject({ method: "elicitation/create", params: { message: "Your name?" } });
    const origin = await openRelayedId(SECRET, String(asked.id));
    expect(origin).toMatchObject({ k: "mrtr", sid: "sid-1", key: "who" });
    if (origin?.k !== "mrtr") throw new Error("not an mrtr id");
    await deliverInputAnswer(ctx, origin.box, origin.key, {
      jsonrpc: "2.0",
      id: asked.id,
      result: { action: "accept", content: { name: "Ada" } },
    });
    const done = (await gen.next()).value as JsonRpcResponse;
    expect(done).toMatchObject({ id: 7, result: { content: [{ type: "text", text: "hello Ada" }] } });
    expect(up.sent).toHaveLength(2);
    expect(up.sent[1]!.params).toMatchObject({
      inputResponses: { who: { action: "accept", content: { name: "Ada" } } },
      requestState: "upstream-state-1",
    });
    expect(up.sent[1]!.id).not.toBe(up.sent[0]!.id);
  });

  it("gives a client that cannot answer a tool error saying what was asked, a URL elicitation as a link", async () => {
    const up = memoryUpstreams((req) => [
      {
        kind: "response",
        message: {
          jsonrpc: "2.0",
          id: req.id,
          result: {
            resultType: "input_required",
            inputRequests: {
              login: {
                method: "elicitation/create",
                params: { mode: "url", url: "https://idp.example.com/consent", message: "Sign in to continue" },
              },
            },
          },
        },
      },
    ]);
    const ctx = context({ client: { era: "legacy", caps: {} }, servers: [server("mod", "modern")], upstreams: up.set });
    const res = last(await all(forward(ctx, ctx.catalog.servers[0]!, call("ask"))));
    expect(res.result).toMatchObject({ isError: true });
    expect(JSON.stringify(res.result!.content)).toContain("https://idp.example.com/consent");
    expect(up.sent).toHaveLength(1);
  });

  it("passes the session's log level to a modern upstream as the per-request logLevel", async () => {
    const up = memoryUpstreams((req) => [{ kind: "response", message: { jsonrpc: "2.0", id: req.id, result: {} } }]);
    const { db } = memoryDb();
    const ctx = context({
      client: { era: "legacy" },
      servers: [server("mod", "modern")],
      upstreams: up.set,
      db,
      sid: "sid-level",
    });
    // logging/setLevel through the dispatcher: the session's level, the isolate's cached copy dropped
    expect(
      last(
        await all(
          new Dispatcher(ctx).handle({
            jsonrpc: "2.0",
            id: 9,
            method: "logging/setLevel",
            params: { level: "warning" },
          }),
        ),
      ).result,
    ).toEqual({});
    await all(forward(ctx, ctx.catalog.servers[0]!, call("alpha")));
    expect(up.sent[0]).toBeDefined();
    // the adapter builds _meta from the call's client view: the bridge handed it the session's level
    const seen: ClientView[] = [];
    const spy: UpstreamSet = {
      of: () => ({
        async *send(c, req) {
          seen.push(c.client);
          yield { kind: "response", message: { jsonrpc: "2.0", id: req.id, result: {} } };
        },
      }),
      answer: async () => 202,
    };
    await all(forward({ ...ctx, upstreams: spy }, ctx.catalog.servers[0]!, call("alpha")));
    expect(seen[0]?.logLevel).toBe("warning");
  });
});

describe("the bridge: modern client", () => {
  it("seals a modern upstream's requestState: passed back unwrapped on retry, refused when altered or presented by another user", async () => {
    const up = memoryUpstreams((req, n) =>
      n === 1
        ? [
            {
              kind: "response",
              message: {
                jsonrpc: "2.0",
                id: req.id,
                result: {
                  resultType: "input_required",
                  inputRequests: { who: ELICIT },
                  requestState: "raw-upstream-state",
                },
              },
            },
          ]
        : [
            {
              kind: "response",
              message: { jsonrpc: "2.0", id: req.id, result: { resultType: "complete", content: [] } },
            },
          ],
    );
    const s = server("mod", "modern");
    const ctx = context({ client: { era: "modern", caps: { elicitation: {} } }, servers: [s], upstreams: up.set });
    const first = last(await all(forward(ctx, s, call("ask", { a: 1 }))));
    const state = first.result!.requestState as string;
    expect(state).toMatch(/^mcpgw-state\./);
    expect(state).not.toContain("raw-upstream-state");
    const retry = (st: string, c = ctx, args: Record<string, unknown> = { a: 1 }) =>
      all(
        forward(
          c,
          s,
          call("ask", args, 2, {
            inputResponses: { who: { action: "accept", content: { name: "x" } } },
            requestState: st,
          }),
        ),
      );
    expect(last(await retry(state.slice(0, -2) + "zz")).error?.code).toBe(-32602);
    expect(
      last(
        await retry(
          state,
          context({
            client: { era: "modern", caps: { elicitation: {} } },
            servers: [s],
            upstreams: up.set,
            email: "mallory@example.com",
          }),
        ),
      ).error?.code,
    ).toBe(-32602);
    expect(last(await retry(state, ctx, { a: 2 })).error?.code).toBe(-32602);
    expect(up.sent).toHaveLength(1);
    expect(last(await retry(state)).result?.resultType).toBe("complete");
    expect(up.sent[1]!.params).toMatchObject({
      requestState: "raw-upstream-state",
      inputResponses: { who: { action: "accept" } },
    });
  });

  it("answers -32021 when the upstream asks for a capability the client did not declare", async () => {
    const up = memoryUpstreams((req) => [
      {
        kind: "response",
        message: {
          jsonrpc: "2.0",
          id: req.id,
          result: {
            resultType: "input_required",
            inputRequests: { s: { method: "sampling/createMessage", params: { messages: [], maxTokens: 1 } } },
          },
        },
      },
    ]);
    const ctx = context({
      client: { era: "modern", caps: { elicitation: {} } },
      servers: [server("mod", "modern")],
      upstreams: up.set,
    });
    const res = last(await all(forward(ctx, ctx.catalog.servers[0]!, call("ask"))));
    expect(res.error).toMatchObject({ code: -32021, data: { requiredCapabilities: { sampling: {} } } });
  });

  it("parks a session-era upstream's request as input_required; the retry answers it and gets the call's result", async () => {
    let answer: JsonRpcResponse | undefined;
    const reply: ReplyTo = { server: "old", via: "session", usid: "us-1", uv: "2025-11-25" };
    const gate: { open?: () => void } = {};
    const up = memoryUpstreams(async (req) => {
      if (req.method !== "tools/call") return [];
      return [{ kind: "request", message: { jsonrpc: "2.0", id: "up-req-1", ...ELICIT }, at: reply }];
    });
    // the upstream's exchange goes on after the request: its response comes once the answer is in
    const ups: UpstreamSet = {
      of: () => ({
        async *send(c, req) {
          for await (const r of up.set.of(c.server).send(c, req)) yield r;
          await new Promise<void>((r) => (gate.open = r));
          yield {
            kind: "notification",
            message: { jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: "p", progress: 1 } },
          };
          yield {
            kind: "response",
            message: {
              jsonrpc: "2.0",
              id: req.id,
              result: { content: [{ type: "text", text: `thanks ${(answer?.result as any)?.content?.name}` }] },
            },
          };
        },
      }),
      answer: async (_s, r, m) => {
        expect(r).toEqual(reply);
        answer = m;
        gate.open?.();
        return 202;
      },
    };
    const s = server("old", "legacy");
    const { db } = memoryDb();
    const ctx = context({ client: { era: "modern", caps: { elicitation: {} } }, servers: [s], upstreams: ups, db });
    const first = last(await all(forward(ctx, s, call("ask", {}, 1))));
    expect(first.result).toMatchObject({
      resultType: "input_required",
      inputRequests: { r0: { method: "elicitation/create", params: { message: "Your name?" } } },
    });
    const out = await all(
      forward(
        ctx,
        s,
        call("ask", {}, 2, {
          inputResponses: { r0: { action: "accept", content: { name: "Bo" } } },
          requestState: first.result!.requestState,
        }),
      ),
    );
    expect(answer).toMatchObject({ id: "up-req-1", result: { action: "accept", content: { name: "Bo" } } });
    expect(out.find((m) => "method" in m && m.method === "notifications/progress")).toBeDefined();
    expect(last(out)).toMatchObject({ id: 2, result: { content: [{ type: "text", text: "thanks Bo" }] } });
    // used once
    const again = last(
      await all(
        forward(
          ctx,
          s,
          call("ask", {}, 3, {
            inputResponses: { r0: { action: "accept", content: { name: "Bo" } } },
            requestState: first.result!.requestState,
          }),
        ),
      ),
    );
    expect(again.error?.message).toMatch(/already used/);
  });
});

describe("task ids", () => {
  it("are sealed to the user and server: the owner's tasks/get reaches the upstream's task, another user's does not", async () => {
    const up = memoryUpstreams((req) => [
      req.method === "tools/call"
        ? {
            kind: "response",
            message: {
              jsonrpc: "2.0",
              id: req.id,
              result: {
                resultType: "task",
                taskId: "upstream-task-1",
                status: "working",
                createdAt: "now",
                lastUpdatedAt: "now",
                ttlMs: null,
              },
            },
          }
        : {
            kind: "response",
            message: {
              jsonrpc: "2.0",
              id: req.id,
              result: { resultType: "complete", taskId: String(req.params!.taskId), status: "completed", result: {} },
            },
          },
    ]);
    const s = server("mod", "modern", { capabilities: { extensions: { "io.modelcontextprotocol/tasks": {} } } });
    const ctx = context({
      client: { era: "modern", caps: { extensions: { "io.modelcontextprotocol/tasks": {} } } },
      servers: [s],
      upstreams: up.set,
      scope: "*",
    });
    const created = last(await all(new Dispatcher(ctx).handle(call("mod__alpha"))));
    const taskId = created.result!.taskId as string;
    expect(taskId).toMatch(/^mcpgw-task\./);
    expect(await openTaskId(SECRET, taskId)).toEqual({
      email: "ada@example.com",
      server: "mod",
      id: "upstream-task-1",
    });
    const got = last(
      await all(new Dispatcher(ctx).handle({ jsonrpc: "2.0", id: 2, method: "tasks/get", params: { taskId } })),
    );
    expect(up.sent.at(-1)!.params!.taskId).toBe("upstream-task-1");
    expect(got.result!.taskId).toBe(taskId);
    const mallory = context({
      client: { era: "modern" },
      servers: [s],
      upstreams: up.set,
      scope: "*",
      email: "mallory@example.com",
    });
    expect(
      last(
        await all(new Dispatcher(mallory).handle({ jsonrpc: "2.0", id: 3, method: "tasks/get", params: { taskId } })),
      ).error?.message,
    ).toBe("Unknown task");
  });
});

describe("the pin of a reviewed tool (bridge/pin.ts)", () => {
  // the in-memory upstream plays the corner cases a real server does not offer on demand (a
  // cursor that loops, an error on the listing); the real upstreams of both kinds are in
  // test/integration/curated.test.ts
  const ALPHA = { name: "alpha", description: "approved", inputSchema: { type: "object" } };
  const ok = (req: JsonRpcRequest, result: Record<string, unknown>): Relay[] => [
    { kind: "response", message: { jsonrpc: "2.0", id: req.id, result } },
  ];
  // a new server id per run: the re-list request is debounced per server and isolate
  let runs = 0;
  const reviewed = async (id: string, review: "hold" | "findings" | "auto") =>
    server(id, "modern", { review, pins: [["alpha", await itemHash(ALPHA)]] });

  async function run(
    review: "hold" | "findings" | "auto",
    pages: (cursor: unknown) => Relay[] | ((req: JsonRpcRequest) => Relay[]),
    client: ClientView["era"] = "modern",
  ) {
    const refreshed: string[] = [];
    const up = memoryUpstreams((req) => {
      if (req.method === "tools/call") return ok(req, { content: [{ type: "text", text: "ran" }] });
      const p = pages(req.params?.cursor);
      return typeof p === "function" ? p(req) : p;
    });
    const id = `rev${++runs}`;
    const ctx = context({ client: { era: client }, servers: [await reviewed(id, review)], upstreams: up.set });
    ctx.catalogBinding = {
      fetch: async (url: string) => (refreshed.push(String(url)), new Response(null, { status: 202 })),
    } as unknown as Fetcher;
    const res = last(await all(new Dispatcher(ctx).handle(call("alpha"))));
    await new Promise((r) => setTimeout(r, 0));
    return {
      id,
      res,
      sent: up.sent.map((r) => `${r.method}${r.params?.cursor ? `@${String(r.params.cursor)}` : ""}`),
      refreshed,
    };
  }

  it("forwards a call only after finding the approved definition upstream, following the cursor", async () => {
    for (const review of ["hold", "findings"] as const) {
      const r = await run(
        review,
        (cursor) => (req) =>
          cursor === undefined
            ? ok(req, { tools: [{ name: "zeta" }], nextCursor: "p2" })
            : ok(req, { tools: [{ ...ALPHA }] }),
      );
      expect(r.res.result?.content).toEqual([{ type: "text", text: "ran" }]);
      expect(r.sent).toEqual(["tools/list", "tools/list@p2", "tools/call"]);
    }
    // key order is no change (the hash is of canonical JSON)
    const reordered = await run(
      "hold",
      () => (req) => ok(req, { tools: [{ inputSchema: { type: "object" }, description: "approved", name: "alpha" }] }),
    );
    expect(reordered.sent).toEqual(["tools/list", "tools/call"]);
  });

  it("refuses as under review when the upstream serves another definition, none, or pages forever, and has the catalog re-list", async () => {
    for (const pages of [
      () => (req: JsonRpcRequest) => ok(req, { tools: [{ ...ALPHA, description: "changed" }] }),
      () => (req: JsonRpcRequest) => ok(req, { tools: [{ name: "zeta" }] }),
      () => (req: JsonRpcRequest) => ok(req, { tools: [{ name: "zeta" }], nextCursor: "same" }),
      () => (req: JsonRpcRequest) => ok(req, { notTools: true }),
    ]) {
      for (const era of ["modern", "legacy"] as const) {
        const r = await run("hold", pages, era);
        expect(r.res.result).toMatchObject({
          isError: true,
          content: [{ type: "text", text: expect.stringMatching(/^Tool alpha is under review/) }],
        });
        expect(r.sent).not.toContain("tools/call");
        expect(r.refreshed.some((u) => u.endsWith(`/internal/refresh/${r.id}`))).toBe(true);
      }
    }
  });

  it("passes a failed listing's error on, and costs a server under auto nothing", async () => {
    const failed = await run("hold", () => (req) => [
      {
        kind: "response",
        message: { jsonrpc: "2.0", id: req.id, error: { code: -32603, message: "Upstream failed: HTTP 502" } },
      },
    ]);
    expect(failed.res).toMatchObject({ id: 1, error: { message: "Upstream failed: HTTP 502" } });
    expect(failed.sent).toEqual(["tools/list"]);
    const auto = await run("auto", () => {
      throw new Error("an auto server is never listed");
    });
    expect(auto.res.result?.content).toEqual([{ type: "text", text: "ran" }]);
    expect(auto.sent).toEqual(["tools/call"]);
  });
});
