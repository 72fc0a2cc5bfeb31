// The gateway against real server-everything upstreams, driven by the official SDK client.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { directClient, gatewayClient, startMcpFixture, type McpFixture } from "./mcp.fixture";

let f: McpFixture;
let direct: Client;
beforeAll(async () => {
  f = await startMcpFixture();
  direct = await directClient(f.alpha.url);
});
afterAll(async () => {
  await direct?.close();
  await f?.stop();
});

describe("/mcp/<server>", () => {
  it("lists the same tools as the upstream and calls them", async () => {
    const { client } = await gatewayClient(f.t.url, "/mcp/alpha", f.alice);
    const via = await client.listTools();
    const ref = await direct.listTools();
    expect(via.tools.map((t) => t.name).sort()).toEqual(ref.tools.map((t) => t.name).sort());
    const echo = await client.callTool({ name: "echo", arguments: { message: "hi" } });
    expect(echo).toEqual(await direct.callTool({ name: "echo", arguments: { message: "hi" } }));
    await client.close();
  });
});
