/**
 * What the modern demo/test upstream offers: one McpServer definition (SDK 2.x), built fresh per
 * request (2026-07-28, stateless) or per session (2025 era, dual-era mode) from shared state, so
 * both eras always see the same tools, prompts and resources.
 *
 * The `test_*` names and behaviours are the ones the official conformance suite
 * (`@modelcontextprotocol/conformance@0.2.0-alpha.12`, `server --requirements 2026-07-28`) asks
 * of a server under test; the others exercise what the gateway must carry (structured content,
 * URL-mode elicitation, `x-mcp-header`, resource updates, list changes). Multi-round-trip state is
 * HMAC-sealed (the SDK's `createRequestStateCodec`), so tampered state is refused with -32602.
 */
import {
  CLIENT_CAPABILITIES_META_KEY,
  McpServer,
  ResourceTemplate,
  completable,
  createRequestStateCodec,
  fromJsonSchema,
  inputRequired,
  inputResponse,
  type CallToolResult,
  type InputRequests,
  type RegisteredPrompt,
  type RegisteredTool,
  type ServerContext,
} from "@modelcontextprotocol/server";
import { z } from "zod";

/** 1x1 red PNG and a minimal WAV (the conformance suite's own samples). */
export const TEST_IMAGE_BASE64 =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
export const TEST_AUDIO_BASE64 = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=";

export const SERVER_INFO = { name: "mcp-gateway-modern-upstream", version: "1.0.0" };
export const INSTRUCTIONS = "Test upstream of the MCP gateway: every 2026-07-28 feature, one tool or resource each.";
export const WATCHED_URI = "test://watched-resource";

/** Change events the definition publishes; the serving side fans them out to both eras. */
export interface UpstreamEvents {
  toolsChanged(): void;
  promptsChanged(): void;
  resourcesChanged(): void;
  resourceUpdated(uri: string): void;
}

/** State shared by every instance the factory builds (one per upstream). */
export interface UpstreamState {
  /** Tools added at run time by `add_tool` / `test_trigger_tool_change` (name -> text it answers). */
  addedTools: Map<string, string>;
  /** Prompts added at run time by `test_trigger_prompt_change`. */
  addedPrompts: Set<string>;
  /** Content of {@link WATCHED_URI}; `update_resource` changes it. */
  watched: { text: string; version: number };
  /** Calls of `slow` that saw their request cancelled (a closed stream, or notifications/cancelled). */
  cancelled: number;
}

export function newUpstreamState(): UpstreamState {
  return {
    addedTools: new Map(),
    addedPrompts: new Set(),
    watched: { text: "Watched resource content (version 0)", version: 0 },
    cancelled: 0,
  };
}

const text = (t: string): CallToolResult => ({ content: [{ type: "text", text: t }] });

const nameSchema = { type: "object" as const, properties: { name: { type: "string" as const } }, required: ["name"] };

/** The JSON Schema 2020-12 tool of the conformance suite (keywords must survive untouched). */
const JSON_SCHEMA_2020_12 = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: "object",
  $defs: {
    address: {
      $anchor: "addressDef",
      type: "object",
      properties: { street: { type: "string" }, city: { type: "string" } },
    },
  },
  properties: {
    name: { type: "string" },
    address: { $ref: "#/$defs/address" },
    contactMethod: { type: "string", enum: ["phone", "email"] },
    phone: { type: "string" },
    email: { type: "string" },
  },
  allOf: [{ anyOf: [{ required: ["phone"] }, { required: ["email"] }] }],
  if: { properties: { contactMethod: { const: "phone" } }, required: ["contactMethod"] },
  then: { required: ["phone"] },
  else: { required: ["email"] },
  additionalProperties: false,
};

/** A tool whose `region` argument is mirrored into the `Mcp-Param-Region` header (x-mcp-header). */
const REGION_QUERY = {
  type: "object",
  properties: {
    region: { type: "string", description: "Region to run the query in", "x-mcp-header": "Region" },
    query: { type: "string", description: "The query" },
  },
  required: ["region", "query"],
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Options of {@link buildServer}. */
export interface BuildOptions {
  state: UpstreamState;
  events: UpstreamEvents;
  /** HMAC key of the multi-round-trip `requestState` (>= 32 bytes; the same for every instance). */
  stateKey: string;
  /** The era the instance serves: `legacy` adds `resources/subscribe` (2026-07-28 has `subscriptions/listen`). */
  era: "modern" | "legacy";
  /** Legacy sessions: the URIs the session subscribed to (filled by `resources/subscribe`). */
  subscribed?: Set<string>;
}

/** A built instance; `sync()` brings a long-lived (session) instance's added tools and prompts up to date. */
export interface BuiltServer {
  server: McpServer;
  sync: () => void;
}

/**
 * One McpServer with everything registered. Cheap enough to build per request (the SDK's
 * createMcpHandler does). List-affecting state is read at build time: an instance built after
 * `add_tool` lists the new tool.
 */
export function buildServer(opts: BuildOptions): BuiltServer {
  const { state, events } = opts;
  const codec = createRequestStateCodec<Record<string, unknown>>({
    key: opts.stateKey,
    ttlSeconds: 600,
    bind: (ctx) => `${ctx.mcpReq.method}`,
  });
  const server = new McpServer(SERVER_INFO, {
    capabilities: {
      tools: { listChanged: true },
      resources: { subscribe: true, listChanged: true },
      prompts: { listChanged: true },
      logging: {},
      completions: {},
    },
    instructions: INSTRUCTIONS,
    // lists are the same for every caller: a shared cache may keep them a minute
    cacheHints: {
      "server/discover": { ttlMs: 60_000, cacheScope: "public" },
      "tools/list": { ttlMs: 60_000, cacheScope: "public" },
      "prompts/list": { ttlMs: 60_000, cacheScope: "public" },
      "resources/list": { ttlMs: 60_000, cacheScope: "public" },
      "resources/templates/list": { ttlMs: 60_000, cacheScope: "public" },
      "resources/read": { ttlMs: 0, cacheScope: "private" },
    },
    requestState: { verify: (s, ctx) => codec.verify(s, ctx) },
  });
  /** What the client declared: the request's envelope (2026-07-28) or its initialize (2025 era). */
  const clientCaps = (ctx: ServerContext): Record<string, unknown> => {
    const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
    return (
      ((envelope?.[CLIENT_CAPABILITIES_META_KEY] ?? server.server.getClientCapabilities()) as
        Record<string, unknown> | undefined) ?? {}
    );
  };
  const mint = (payload: Record<string, unknown>, ctx: ServerContext) => codec.mint(payload, ctx);

  // ---- plain results --------------------------------------------------------------------------
  server.registerTool("test_simple_text", { description: "Tests simple text content response" }, async () =>
    text("This is a simple text response for testing."),
  );
  server.registerTool("test_image_content", { description: "Tests image content response" }, async () => ({
    content: [{ type: "image", data: TEST_IMAGE_BASE64, mimeType: "image/png" }],
  }));
  server.registerTool("test_audio_content", { description: "Tests audio content response" }, async () => ({
    content: [{ type: "audio", data: TEST_AUDIO_BASE64, mimeType: "audio/wav" }],
  }));
  server.registerTool(
    "test_embedded_resource",
    { description: "Tests embedded resource content response" },
    async () => ({
      content: [
        {
          type: "resource",
          resource: {
            uri: "test://embedded-resource",
            mimeType: "text/plain",
            text: "This is an embedded resource content.",
          },
        },
      ],
    }),
  );
  server.registerTool(
    "test_multiple_content_types",
    { description: "Tests response with multiple content types (text, image, resource)" },
    async () => ({
      content: [
        { type: "text", text: "Multiple content types test:" },
        { type: "image", data: TEST_IMAGE_BASE64, mimeType: "image/png" },
        {
          type: "resource",
          resource: {
            uri: "test://mixed-content-resource",
            mimeType: "application/json",
            text: JSON.stringify({ test: "data", value: 123 }),
          },
        },
      ],
    }),
  );
  server.registerTool("test_error_handling", { description: "Tests error response handling" }, async () => {
    throw new Error("This tool intentionally returns an error for testing");
  });
  server.registerTool(
    "echo",
    { description: "Echoes the message back", inputSchema: z.object({ message: z.string().describe("What to echo") }) },
    async ({ message }) => text(`Echo: ${message}`),
  );
  server.registerTool(
    "add",
    {
      description: "Adds two numbers; answers structured content",
      inputSchema: z.object({ a: z.number(), b: z.number() }),
      outputSchema: z.object({ sum: z.number() }),
    },
    async ({ a, b }) => ({ content: [{ type: "text", text: String(a + b) }], structuredContent: { sum: a + b } }),
  );
  server.registerTool(
    "json_schema_2020_12_tool",
    { description: "Tool with JSON Schema 2020-12 features", inputSchema: fromJsonSchema(JSON_SCHEMA_2020_12) },
    async (args) => text(`Received: ${JSON.stringify(args)}`),
  );
  server.registerTool(
    "query_region",
    {
      description: "Runs a query in a region; the region travels in the Mcp-Param-Region header (x-mcp-header)",
      inputSchema: fromJsonSchema<{ region: string; query: string }>(REGION_QUERY),
    },
    async (args, ctx) =>
      text(
        `Query '${args.query}' ran in ${args.region} (header: ${ctx.http?.req?.headers.get("mcp-param-region") ?? "none"})`,
      ),
  );

  // ---- streaming: progress and logging ---------------------------------------------------------
  server.registerTool(
    "test_tool_with_progress",
    { description: "Tests tool that reports progress notifications", inputSchema: z.object({}) },
    async (_args, ctx) => {
      const progressToken = ctx.mcpReq._meta?.progressToken;
      for (const progress of [0, 50, 100]) {
        if (progressToken !== undefined) {
          await ctx.mcpReq.notify({
            method: "notifications/progress",
            params: { progressToken, progress, total: 100, message: `Completed step ${progress} of 100` },
          });
        }
        if (progress !== 100) await sleep(50);
      }
      return text(`Progress reported for token ${String(progressToken ?? "none")}`);
    },
  );
  const loggingTool = async (_args: unknown, ctx: ServerContext) => {
    // ctx.mcpReq.log honours the request's logLevel (2026-07-28) or logging/setLevel (2025 era)
    await ctx.mcpReq.log("debug", "Tool debug detail");
    await ctx.mcpReq.log("info", "Tool execution started");
    await sleep(50);
    await ctx.mcpReq.log("info", "Tool processing data");
    await sleep(50);
    await ctx.mcpReq.log("warning", "Tool execution completed");
    return text("Tool with logging executed successfully");
  };
  server.registerTool(
    "test_tool_with_logging",
    { description: "Tests tool that emits log messages during execution", inputSchema: z.object({}) },
    loggingTool,
  );
  server.registerTool(
    "test_logging_tool",
    { description: "Emits log messages, only as the request's logLevel allows", inputSchema: z.object({}) },
    loggingTool,
  );
  server.registerTool(
    "slow",
    {
      description: "Waits the given milliseconds, reporting progress every 100 ms (cancellation: close the stream)",
      inputSchema: z.object({ ms: z.number().int().min(0).max(60_000) }),
    },
    async ({ ms }, ctx) => {
      const token = ctx.mcpReq._meta?.progressToken;
      const started = Date.now();
      while (Date.now() - started < ms) {
        if (ctx.mcpReq.signal.aborted) {
          state.cancelled++;
          throw new Error("cancelled");
        }
        await sleep(Math.min(100, ms - (Date.now() - started)));
        if (token !== undefined)
          await ctx.mcpReq.notify({
            method: "notifications/progress",
            params: { progressToken: token, progress: Date.now() - started, total: ms },
          });
      }
      return text(`Waited ${ms} ms`);
    },
  );

  server.registerTool(
    "test_reconnection",
    {
      description:
        "Session era: closes the SSE stream mid-call; the result comes after the client reconnects with Last-Event-ID (SEP-1699)",
      inputSchema: z.object({}),
    },
    async (_args, ctx) => {
      ctx.http?.closeSSE?.();
      await sleep(100);
      return text(
        "Reconnection test completed successfully. If you received this, the client properly reconnected after stream closure.",
      );
    },
  );

  // ---- multi round-trip (MRTR): elicitation, sampling, roots -----------------------------------
  const samplingText = (r: ReturnType<typeof inputResponse>) => {
    if (r.kind !== "sampling") return "";
    const c = r.result.content;
    return Array.isArray(c) ? c.map((x) => ("text" in x ? x.text : "")).join("") : "text" in c ? c.text : "";
  };
  server.registerTool(
    "test_input_required_result_elicitation",
    { description: "MRTR: asks for the caller's name (form elicitation)" },
    async (ctx) => {
      const answer = inputResponse(ctx.mcpReq.inputResponses, "user_name");
      if (answer.kind === "elicit" && answer.action === "accept" && typeof answer.content?.name === "string")
        return text(`Hello, ${answer.content.name}!`);
      if (answer.kind === "elicit" && answer.action !== "accept") return text(`No name given (${answer.action}).`);
      return inputRequired({
        inputRequests: {
          user_name: inputRequired.elicit({ message: "What is your name?", requestedSchema: nameSchema }),
        },
      });
    },
  );
  server.registerTool(
    "test_input_required_result_url",
    { description: "MRTR: asks the user to visit a URL (URL-mode elicitation), then confirms" },
    async (ctx) => {
      const answer = inputResponse(ctx.mcpReq.inputResponses, "authorize");
      if (answer.kind === "elicit") return text(`URL elicitation answered: ${answer.action}`);
      return inputRequired({
        inputRequests: {
          authorize: inputRequired.elicitUrl({
            message: "Authorize the demo account",
            url: "https://example.com/authorize?demo=1",
          }),
        },
      });
    },
  );
  server.registerTool(
    "test_input_required_result_sampling",
    { description: "MRTR: asks the client's model a question (sampling)" },
    async (ctx) => {
      const answer = inputResponse(ctx.mcpReq.inputResponses, "capital_question");
      if (answer.kind === "sampling") return text(`LLM response: ${samplingText(answer)}`);
      return inputRequired({
        inputRequests: {
          capital_question: inputRequired.createMessage({
            messages: [{ role: "user", content: { type: "text", text: "What is the capital of France?" } }],
            maxTokens: 100,
          }),
        },
      });
    },
  );
  server.registerTool(
    "test_input_required_result_list_roots",
    { description: "MRTR: asks for the client's roots" },
    async (ctx) => {
      const answer = inputResponse(ctx.mcpReq.inputResponses, "client_roots");
      if (answer.kind === "roots") return text(`Roots: ${answer.roots.map((r) => r.uri).join(", ") || "(none)"}`);
      return inputRequired({ inputRequests: { client_roots: inputRequired.listRoots() } });
    },
  );
  server.registerTool(
    "test_input_required_result_request_state",
    { description: "MRTR: round-trips a sealed requestState" },
    async (ctx) => {
      const state = ctx.mcpReq.requestState<Record<string, unknown>>();
      const answer = inputResponse(ctx.mcpReq.inputResponses, "confirm");
      if (state?.step === "confirm" && answer.kind === "elicit")
        return text(`state-ok: confirmed=${String(answer.content?.ok ?? false)}`);
      return inputRequired({
        inputRequests: {
          confirm: inputRequired.elicit({
            message: "Please confirm",
            requestedSchema: { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"] },
          }),
        },
        requestState: await mint({ step: "confirm" }, ctx),
      });
    },
  );
  server.registerTool(
    "test_input_required_result_tampered_state",
    { description: "MRTR: refuses a requestState that was tampered with" },
    async (ctx) => {
      const state = ctx.mcpReq.requestState<Record<string, unknown>>();
      if (state?.step === "sealed") return text("state verified");
      return inputRequired({
        inputRequests: {
          confirm: inputRequired.elicit({
            message: "Please confirm",
            requestedSchema: { type: "object", properties: { ok: { type: "boolean" } } },
          }),
        },
        requestState: await mint({ step: "sealed" }, ctx),
      });
    },
  );
  server.registerTool(
    "test_input_required_result_multiple_inputs",
    { description: "MRTR: elicitation, sampling and roots in one round" },
    async (ctx) => {
      const r = ctx.mcpReq.inputResponses ?? {};
      const state = ctx.mcpReq.requestState<Record<string, unknown>>();
      if (state?.step === "all" && "user_name" in r && "greeting" in r && "client_roots" in r)
        return text("All inputs received");
      const caps = clientCaps(ctx);
      const requests: InputRequests = {};
      if (caps.elicitation)
        requests.user_name = inputRequired.elicit({ message: "What is your name?", requestedSchema: nameSchema });
      if (caps.sampling)
        requests.greeting = inputRequired.createMessage({
          messages: [{ role: "user", content: { type: "text", text: "Generate a greeting" } }],
          maxTokens: 50,
        });
      if (caps.roots) requests.client_roots = inputRequired.listRoots();
      return inputRequired({ inputRequests: requests, requestState: await mint({ step: "all" }, ctx) });
    },
  );
  server.registerTool(
    "test_input_required_result_multi_round",
    { description: "MRTR: two elicitation rounds with evolving requestState" },
    async (ctx) => {
      const state = ctx.mcpReq.requestState<Record<string, unknown>>();
      const step1 = inputResponse(ctx.mcpReq.inputResponses, "step1");
      const step2 = inputResponse(ctx.mcpReq.inputResponses, "step2");
      if (state?.round === 2 && step2.kind === "elicit")
        return text(`Name: ${String(state.name)}, color: ${String(step2.content?.color ?? "")}`);
      if (state?.round === 1 && step1.kind === "elicit") {
        return inputRequired({
          inputRequests: {
            step2: inputRequired.elicit({
              message: "Step 2: What is your favorite color?",
              requestedSchema: { type: "object", properties: { color: { type: "string" } }, required: ["color"] },
            }),
          },
          requestState: await mint({ round: 2, name: String(step1.content?.name ?? "") }, ctx),
        });
      }
      return inputRequired({
        inputRequests: {
          step1: inputRequired.elicit({ message: "Step 1: What is your name?", requestedSchema: nameSchema }),
        },
        requestState: await mint({ round: 1 }, ctx),
      });
    },
  );
  server.registerTool(
    "test_input_required_result_capabilities",
    { description: "MRTR: asks only for what the client declared" },
    async (ctx) => {
      const caps = clientCaps(ctx);
      const r = ctx.mcpReq.inputResponses ?? {};
      if (Object.keys(r).length) return text(`Received: ${Object.keys(r).sort().join(", ")}`);
      const requests: InputRequests = {};
      if (caps.sampling)
        requests.sample = inputRequired.createMessage({
          messages: [{ role: "user", content: { type: "text", text: "Say hello" } }],
          maxTokens: 20,
        });
      if (caps.elicitation) requests.ask = inputRequired.elicit({ message: "Say hello", requestedSchema: nameSchema });
      if (caps.roots) requests.roots = inputRequired.listRoots();
      if (!Object.keys(requests).length) return text("The client declared none of elicitation, sampling, roots.");
      return inputRequired({ inputRequests: requests });
    },
  );
  server.registerTool(
    "test_missing_capability",
    { description: "Needs sampling: a client that did not declare it gets -32021" },
    async (ctx) => {
      const answer = inputResponse(ctx.mcpReq.inputResponses, "sample");
      if (answer.kind === "sampling") return text("sampled");
      return inputRequired({
        inputRequests: {
          sample: inputRequired.createMessage({
            messages: [{ role: "user", content: { type: "text", text: "Hi" } }],
            maxTokens: 10,
          }),
        },
      });
    },
  );
  server.registerTool(
    "test_streaming_elicitation",
    { description: "Reports progress, then asks for input in the result (never as a request on the stream)" },
    async (ctx) => {
      const answer = inputResponse(ctx.mcpReq.inputResponses, "confirm");
      if (answer.kind === "elicit") return text(`Confirmed: ${answer.action}`);
      await ctx.mcpReq.log("info", "about to ask for confirmation");
      return inputRequired({
        inputRequests: {
          confirm: inputRequired.elicit({
            message: "Continue?",
            requestedSchema: { type: "object", properties: { ok: { type: "boolean" } } },
          }),
        },
      });
    },
  );

  // the 2025-era suite's sampling/elicitation tools, written once as MRTR: on a 2025 session the
  // SDK's legacy shim turns the input_required return into real server-to-client requests
  server.registerTool(
    "test_sampling",
    {
      description: "Asks the client's model (sampling)",
      inputSchema: z.object({ prompt: z.string().describe("The prompt to send to the LLM") }),
    },
    async ({ prompt }, ctx) => {
      const answer = inputResponse(ctx.mcpReq.inputResponses, "llm");
      if (answer.kind === "sampling") return text(`LLM response: ${samplingText(answer)}`);
      return inputRequired({
        inputRequests: {
          llm: inputRequired.createMessage({
            messages: [{ role: "user", content: { type: "text", text: prompt } }],
            maxTokens: 100,
          }),
        },
      });
    },
  );
  server.registerTool(
    "test_elicitation",
    {
      description: "Asks the user (form elicitation)",
      inputSchema: z.object({ message: z.string().describe("The message to show the user") }),
    },
    async ({ message }, ctx) => {
      const answer = inputResponse(ctx.mcpReq.inputResponses, "ask");
      if (answer.kind === "elicit")
        return text(`User response: action=${answer.action}, content=${JSON.stringify(answer.content ?? {})}`);
      return inputRequired({
        inputRequests: {
          ask: inputRequired.elicit({
            message,
            requestedSchema: {
              type: "object",
              properties: {
                username: { type: "string", description: "User's response" },
                email: { type: "string", description: "User's email address" },
              },
              required: ["username", "email"],
            },
          }),
        },
      });
    },
  );
  const elicitForm =
    (key: string, message: string, requestedSchema: Record<string, unknown>) => async (ctx: ServerContext) => {
      const answer = inputResponse(ctx.mcpReq.inputResponses, key);
      if (answer.kind === "elicit")
        return text(`Elicitation completed: action=${answer.action}, content=${JSON.stringify(answer.content ?? {})}`);
      return inputRequired({
        inputRequests: { [key]: inputRequired.elicit({ message, requestedSchema: requestedSchema as never }) },
      });
    };
  server.registerTool(
    "test_elicitation_sep1034_defaults",
    { description: "Elicitation with default values (SEP-1034)" },
    elicitForm("defaults", "Please review and update the form fields with defaults", {
      type: "object",
      properties: {
        name: { type: "string", description: "User name", default: "John Doe" },
        age: { type: "integer", description: "User age", default: 30 },
        score: { type: "number", description: "User score", default: 95.5 },
        status: {
          type: "string",
          description: "User status",
          enum: ["active", "inactive", "pending"],
          default: "active",
        },
        verified: { type: "boolean", description: "Verification status", default: true },
      },
      required: [],
    }),
  );
  server.registerTool(
    "test_elicitation_sep1330_enums",
    { description: "Elicitation with every enum form (SEP-1330)" },
    elicitForm("enums", "Please select options from the enum fields", {
      type: "object",
      properties: {
        untitledSingle: { type: "string", description: "Select one option", enum: ["option1", "option2", "option3"] },
        titledSingle: {
          type: "string",
          description: "Select one option with titles",
          oneOf: [
            { const: "value1", title: "First Option" },
            { const: "value2", title: "Second Option" },
            { const: "value3", title: "Third Option" },
          ],
        },
        legacyEnum: {
          type: "string",
          description: "Select one option (legacy)",
          enum: ["opt1", "opt2", "opt3"],
          enumNames: ["Option One", "Option Two", "Option Three"],
        },
        untitledMulti: {
          type: "array",
          description: "Select multiple options",
          minItems: 1,
          maxItems: 3,
          items: { type: "string", enum: ["option1", "option2", "option3"] },
        },
        titledMulti: {
          type: "array",
          description: "Select multiple options with titles",
          minItems: 1,
          maxItems: 3,
          items: {
            anyOf: [
              { const: "value1", title: "First Choice" },
              { const: "value2", title: "Second Choice" },
              { const: "value3", title: "Third Choice" },
            ],
          },
        },
      },
      required: [],
    }),
  );

  // ---- list changes and resource updates -------------------------------------------------------
  server.registerTool(
    "add_tool",
    {
      description: "Adds a tool with this name (it answers `text`), and says so on subscriptions",
      inputSchema: z.object({ name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/), text: z.string().default("added") }),
    },
    async ({ name, text: answerText }) => {
      state.addedTools.set(name, answerText);
      events.toolsChanged();
      return text(`Added tool ${name}`);
    },
  );
  server.registerTool(
    "test_trigger_tool_change",
    { description: "Toggles the tool test_added_tool (tools/list_changed)" },
    async () => {
      if (state.addedTools.has("test_added_tool")) state.addedTools.delete("test_added_tool");
      else state.addedTools.set("test_added_tool", "added by test_trigger_tool_change");
      events.toolsChanged();
      return text("Tool list changed");
    },
  );
  server.registerTool(
    "test_trigger_prompt_change",
    { description: "Toggles the prompt test_added_prompt (prompts/list_changed)" },
    async () => {
      if (state.addedPrompts.has("test_added_prompt")) state.addedPrompts.delete("test_added_prompt");
      else state.addedPrompts.add("test_added_prompt");
      events.promptsChanged();
      return text("Prompt list changed");
    },
  );
  server.registerTool(
    "update_resource",
    { description: `Changes ${WATCHED_URI} (notifications/resources/updated)` },
    async () => {
      state.watched.version++;
      state.watched.text = `Watched resource content (version ${state.watched.version})`;
      events.resourceUpdated(WATCHED_URI);
      return text(`Updated ${WATCHED_URI} to version ${state.watched.version}`);
    },
  );
  const addedTools = new Map<string, RegisteredTool>();
  const syncTools = () => {
    for (const [name, answerText] of state.addedTools) {
      if (!addedTools.has(name))
        addedTools.set(
          name,
          server.registerTool(name, { description: `Added at run time: answers '${answerText}'` }, async () =>
            text(answerText),
          ),
        );
    }
    for (const [name, t] of addedTools) {
      if (!state.addedTools.has(name)) {
        t.remove();
        addedTools.delete(name);
      }
    }
  };
  syncTools();

  // ---- resources -------------------------------------------------------------------------------
  server.registerResource(
    "static-text",
    "test://static-text",
    { description: "A static text resource", mimeType: "text/plain" },
    async (uri) => ({
      contents: [{ uri: uri.href, mimeType: "text/plain", text: "This is the content of the static text resource." }],
    }),
  );
  server.registerResource(
    "static-binary",
    "test://static-binary",
    { description: "A static binary resource (PNG)", mimeType: "image/png" },
    async (uri) => ({
      contents: [{ uri: uri.href, mimeType: "image/png", blob: TEST_IMAGE_BASE64 }],
    }),
  );
  server.registerResource(
    "watched-resource",
    WATCHED_URI,
    { description: "Changes when update_resource is called (subscribe to it)", mimeType: "text/plain" },
    async (uri) => ({
      contents: [{ uri: uri.href, mimeType: "text/plain", text: state.watched.text }],
    }),
  );
  server.registerResource(
    "confirmed-resource",
    "test://confirmed-resource",
    { description: "Readable after the user confirms (MRTR on resources/read)", mimeType: "text/plain" },
    async (uri, ctx) => {
      const answer = inputResponse(ctx.mcpReq.inputResponses, "confirm_read");
      if (answer.kind === "elicit" && answer.action === "accept")
        return { contents: [{ uri: uri.href, mimeType: "text/plain", text: "Confirmed content." }] };
      return inputRequired({
        inputRequests: {
          confirm_read: inputRequired.elicit({
            message: "Read the confirmed resource?",
            requestedSchema: { type: "object", properties: { ok: { type: "boolean" } } },
          }),
        },
      });
    },
  );
  server.registerResource(
    "template-data",
    new ResourceTemplate("test://template/{id}/data", {
      list: undefined,
      complete: { id: (value) => ["1", "12", "123", "42"].filter((v) => v.startsWith(value)) },
    }),
    { description: "Data for an id", mimeType: "application/json" },
    async (uri, variables) => {
      const id = String(variables.id);
      return {
        contents: [
          {
            uri: uri.href,
            mimeType: "application/json",
            text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }),
          },
        ],
      };
    },
  );

  // ---- prompts and completion ------------------------------------------------------------------
  server.registerPrompt("test_simple_prompt", { description: "A simple prompt without arguments" }, async () => ({
    messages: [{ role: "user", content: { type: "text", text: "This is a simple prompt for testing." } }],
  }));
  server.registerPrompt(
    "test_prompt_with_arguments",
    {
      description: "A prompt with required arguments",
      argsSchema: z.object({
        arg1: completable(z.string().describe("First test argument"), (v) =>
          ["paris", "park", "party"].filter((x) => x.startsWith(v)),
        ),
        arg2: z.string().describe("Second test argument"),
      }),
    },
    async ({ arg1, arg2 }) => ({
      messages: [
        { role: "user", content: { type: "text", text: `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'` } },
      ],
    }),
  );
  server.registerPrompt(
    "test_prompt_with_embedded_resource",
    {
      description: "A prompt that embeds a resource",
      argsSchema: z.object({ resourceUri: z.string().describe("URI of the resource to embed") }),
    },
    async ({ resourceUri }) => ({
      messages: [
        {
          role: "user",
          content: {
            type: "resource",
            resource: { uri: resourceUri, mimeType: "text/plain", text: "Embedded resource content for testing." },
          },
        },
        { role: "user", content: { type: "text", text: "Please process the embedded resource above." } },
      ],
    }),
  );
  server.registerPrompt("test_prompt_with_image", { description: "A prompt with an image" }, async () => ({
    messages: [
      { role: "user", content: { type: "image", data: TEST_IMAGE_BASE64, mimeType: "image/png" } },
      { role: "user", content: { type: "text", text: "Please analyze the image above." } },
    ],
  }));
  server.registerPrompt(
    "test_input_required_result_prompt",
    { description: "MRTR on prompts/get: asks for context first" },
    async (ctx) => {
      const answer = inputResponse(ctx.mcpReq.inputResponses, "user_context");
      if (answer.kind === "elicit") {
        return {
          messages: [
            {
              role: "user",
              content: { type: "text", text: `Context: ${String(answer.content?.context ?? "(none)")}` },
            },
          ],
        };
      }
      return inputRequired({
        inputRequests: {
          user_context: inputRequired.elicit({
            message: "What context should the prompt use?",
            requestedSchema: { type: "object", properties: { context: { type: "string" } }, required: ["context"] },
          }),
        },
      });
    },
  );
  const addedPrompts = new Map<string, RegisteredPrompt>();
  const syncPrompts = () => {
    for (const name of state.addedPrompts) {
      if (!addedPrompts.has(name)) {
        addedPrompts.set(
          name,
          server.registerPrompt(name, { description: "Added at run time" }, async () => ({
            messages: [{ role: "user", content: { type: "text", text: `${name} prompt` } }],
          })),
        );
      }
    }
    for (const [name, p] of addedPrompts) {
      if (!state.addedPrompts.has(name)) {
        p.remove();
        addedPrompts.delete(name);
      }
    }
  };
  syncPrompts();

  if (opts.era === "legacy") {
    // the 2025 era subscribes per session; 2026-07-28 removed these methods (subscriptions/listen)
    const subscribed = opts.subscribed ?? new Set<string>();
    server.server.setRequestHandler("resources/subscribe", async (req) => {
      subscribed.add(req.params.uri);
      return {};
    });
    server.server.setRequestHandler("resources/unsubscribe", async (req) => {
      subscribed.delete(req.params.uri);
      return {};
    });
  }
  return {
    server,
    sync: () => {
      syncTools();
      syncPrompts();
    },
  };
}
