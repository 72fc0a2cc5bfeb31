// Tenants never see or reach each other's items, under any spelling; the Streamable HTTP rules
// (sessions, Origin, versions, JSON-RPC errors, batches) hold. Real upstreams and workerd.
import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gatewayClient, rawInitialize, rawPost, startMcpFixture, type McpFixture } from "./mcp.fixture";

let f: McpFixture;
beforeAll(async () => {
  f = await startMcpFixture();
  // acme-users may not see alpha's get-env (a tool rule); bob's beta is untouched
  await f.t.db
    .sql`INSERT INTO group_tool_rules (group_name, server_id, tool, effect) VALUES ('acme-users', 'alpha', 'get-env', 'deny')`;
  await new Promise((r) => setTimeout(r, 1500));
});
afterAll(() => f?.stop());

const call = (session: string, path: string, key: string, name: string, id = 7) =>
  rawPost(
    f.t.url,
    path,
    key,
    { jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: { message: "x" } } },
    { "mcp-session-id": session },
  );

describe("isolation between tenants", () => {
  it("shows each user only their own tenant's servers and allowed tools", async () => {
    const a = await gatewayClient(f.t.url, "/mcp", f.alice);
    const b = await gatewayClient(f.t.url, "/mcp", f.bob);
    const aliceTools = (await a.client.listTools()).tools.map((t) => t.name);
    const bobTools = (await b.client.listTools()).tools.map((t) => t.name);
    expect(aliceTools.length).toBeGreaterThan(3);
    expect(aliceTools.every((n) => n.startsWith("alpha__"))).toBe(true);
    expect(bobTools.every((n) => n.startsWith("beta__"))).toBe(true);
    expect(aliceTools).not.toContain("alpha__get-env");
    expect(bobTools).toContain("beta__get-env");
    await Promise.all([a.client.close(), b.client.close()]);
  });

  it("answers 403 for a server the caller may not use, existing or not", async () => {
    for (const path of ["/mcp/beta", "/mcp/no-such-server", "/mcp/BETA"]) {
      const r = await rawPost(f.t.url, path, f.alice, {
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "1" } },
      });
      expect(r.status, path).toBe(403);
      expect(r.body.error.code).toBe(-32600);
    }
    await expect(gatewayClient(f.t.url, "/mcp/beta", f.alice)).rejects.toThrow();
  });

  it("fails a hidden tool exactly like a missing one, under every spelling", async () => {
    const agg = (await rawInitialize(f.t.url, "/mcp", f.alice)).session!;
    const one = (await rawInitialize(f.t.url, "/mcp/alpha", f.alice)).session!;
    const shape = (r: Awaited<ReturnType<typeof call>>, name: string) => ({
      status: r.status,
      error: { ...r.body.error, message: r.body.error.message.replace(name, "<name>") },
      result: r.body.result,
    });
    const missingAgg = shape(await call(agg, "/mcp", f.alice, "alpha__no-such-tool"), "alpha__no-such-tool");
    expect(missingAgg.error.code).toBe(-32602);
    expect(missingAgg.result).toBeUndefined();
    for (const name of [
      "beta__echo",
      "echo",
      "BETA__echo",
      "Beta__Echo",
      "alpha__ECHO",
      "Alpha__echo",
      "alpha__get-env",
      "beta__get-env",
      "get-env",
      "alpha___echo",
      " alpha__echo",
      "alpha__echo ",
      "alpha__",
    ]) {
      expect(shape(await call(agg, "/mcp", f.alice, name), name), name).toEqual(missingAgg);
    }
    const missingOne = shape(await call(one, "/mcp/alpha", f.alice, "no-such-tool"), "no-such-tool");
    expect(missingOne).toEqual(missingAgg);
    for (const name of ["get-env", "alpha__echo", "beta__echo", "ECHO", "Echo", "alpha__get-env"]) {
      expect(shape(await call(one, "/mcp/alpha", f.alice, name), name), name).toEqual(missingOne);
    }
    // the same calls work for bob, whose tenant grants them
    const bobSession = (await rawInitialize(f.t.url, "/mcp", f.bob)).session!;
    expect((await call(bobSession, "/mcp", f.bob, "beta__get-env")).body.result).toBeDefined();
  });

  it("fails hidden prompts and guessed resource URIs like missing ones", async () => {
    const none = (await rawInitialize(f.t.url, "/mcp", f.nobody)).session!;
    const agg = (await rawInitialize(f.t.url, "/mcp", f.alice)).session!;
    const post = (s: string, key: string, method: string, params: object) =>
      rawPost(f.t.url, "/mcp", key, { jsonrpc: "2.0", id: 3, method, params }, { "mcp-session-id": s });
    const missingPrompt = await post(agg, f.alice, "prompts/get", { name: "alpha__nope" });
    expect(missingPrompt.body.error.code).toBe(-32602);
    for (const name of ["beta__simple-prompt", "simple-prompt", "Alpha__simple-prompt"]) {
      const r = await post(agg, f.alice, "prompts/get", { name });
      expect({ ...r.body.error, message: r.body.error.message.replace(name, "N") }).toEqual({
        ...missingPrompt.body.error,
        message: missingPrompt.body.error.message.replace("alpha__nope", "N"),
      });
    }
    const missingUri = await post(agg, f.alice, "resources/read", { uri: "demo://no/such/thing" });
    expect(missingUri.body.error).toEqual({
      code: -32002,
      message: "Resource not found",
      data: { uri: "demo://no/such/thing" },
    });
    // nobody may use no server: a real URI of alpha/beta fails exactly like a made-up one
    for (const uri of [
      "demo://resource/dynamic/text/1",
      "demo://resource/static/document/architecture.md",
      "demo://no/such/thing",
    ]) {
      const r = await post(none, f.nobody, "resources/read", { uri });
      expect(r.body.error).toEqual({ code: -32002, message: "Resource not found", data: { uri } });
      const s = await post(none, f.nobody, "resources/subscribe", { uri });
      expect(s.body.error).toEqual({ code: -32002, message: "Resource not found", data: { uri } });
    }
  });

  // a revoked grant on the next call of an open session, 2 s after the API answered, at the
  // production cache TTLs: test/integration/propagation.test.ts

  it("routes a client's answer to a relayed request back only for the session it was issued to", async () => {
    const erin = await f.t.userKey("erin@acme.test", { groups: ["acme-users"] });
    const init = await rawInitialize(f.t.url, "/mcp/alpha", f.alice, "2025-06-18", { roots: {} });
    const ctl = new AbortController();
    const stream = await fetch(f.t.url + "/mcp/alpha", {
      headers: {
        authorization: `Bearer ${f.alice}`,
        accept: "text/event-stream",
        "mcp-session-id": init.session!,
        "mcp-protocol-version": "2025-06-18",
      },
      signal: ctl.signal,
    });
    expect(stream.status).toBe(200);
    // the upstream asks for roots shortly after its session opens
    const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    let request: any;
    while (!request) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      for (const line of buf.split("\n"))
        if (line.startsWith("data:") && line.includes('"roots/list"')) request = JSON.parse(line.slice(5));
    }
    expect(request.method).toBe("roots/list");
    expect(String(request.id)).toMatch(/^mcpgw-req\./);
    const answer = { jsonrpc: "2.0", id: request.id, result: { roots: [] } };
    // another user (same tenant, own session) cannot answer it; a tampered id is refused too
    const other = await rawInitialize(f.t.url, "/mcp/alpha", erin);
    expect((await rawPost(f.t.url, "/mcp/alpha", erin, answer, { "mcp-session-id": other.session! })).status).toBe(400);
    const tampered = {
      ...answer,
      id: String(request.id).slice(0, -2) + (String(request.id).endsWith("AA") ? "BB" : "AA"),
    };
    expect((await rawPost(f.t.url, "/mcp/alpha", f.alice, tampered, { "mcp-session-id": init.session! })).status).toBe(
      400,
    );
    // another session of the same user cannot either
    const second = await rawInitialize(f.t.url, "/mcp/alpha", f.alice, "2025-06-18", { roots: {} });
    expect((await rawPost(f.t.url, "/mcp/alpha", f.alice, answer, { "mcp-session-id": second.session! })).status).toBe(
      400,
    );
    // its own session can
    expect((await rawPost(f.t.url, "/mcp/alpha", f.alice, answer, { "mcp-session-id": init.session! })).status).toBe(
      202,
    );
    ctl.abort();
  });

  it("explains to a user mapped to nothing why the lists are empty", async () => {
    const { client } = await gatewayClient(f.t.url, "/mcp", f.nobody);
    expect(client.getInstructions()).toMatch(
      /No MCP servers are available to nobody@acme\.test: your account belongs to no group/,
    );
    expect((await client.listTools()).tools).toEqual([]);
    await client.close();
  });

  it("refuses another user's session (404) and a session of another endpoint", async () => {
    const aliceSession = (await rawInitialize(f.t.url, "/mcp", f.alice)).session!;
    const stolen = await rawPost(
      f.t.url,
      "/mcp",
      f.bob,
      { jsonrpc: "2.0", id: 1, method: "tools/list" },
      { "mcp-session-id": aliceSession },
    );
    expect(stolen.status).toBe(404);
    const otherEndpoint = await rawPost(
      f.t.url,
      "/mcp/alpha",
      f.alice,
      { jsonrpc: "2.0", id: 1, method: "tools/list" },
      { "mcp-session-id": aliceSession },
    );
    expect(otherEndpoint.status).toBe(404);
  });
});

describe("Streamable HTTP rules", () => {
  it("issues a session at initialize; unknown 404, missing 400, ended 404", async () => {
    const init = await rawInitialize(f.t.url, "/mcp/alpha", f.alice);
    expect(init.status).toBe(200);
    expect(init.session).toMatch(/^[\x21-\x7e]+$/);
    const list = { jsonrpc: "2.0", id: 2, method: "tools/list" };
    expect((await rawPost(f.t.url, "/mcp/alpha", f.alice, list)).status).toBe(400);
    expect((await rawPost(f.t.url, "/mcp/alpha", f.alice, list, { "mcp-session-id": "made-up" })).status).toBe(404);
    expect(
      (await rawPost(f.t.url, "/mcp/alpha", f.alice, list, { "mcp-session-id": init.session!.slice(0, -2) + "xx" }))
        .status,
    ).toBe(404);
    expect((await rawPost(f.t.url, "/mcp/alpha", f.alice, list, { "mcp-session-id": init.session! })).status).toBe(200);
    const del = await fetch(f.t.url + "/mcp/alpha", {
      method: "DELETE",
      headers: { authorization: `Bearer ${f.alice}`, "mcp-session-id": init.session! },
    });
    expect(del.status).toBe(204);
    expect((await rawPost(f.t.url, "/mcp/alpha", f.alice, list, { "mcp-session-id": init.session! })).status).toBe(404);
  });

  it("refuses a foreign Origin with 403 and accepts its own", async () => {
    const init = {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "1" } },
    };
    const bad = await rawPost(f.t.url, "/mcp", f.alice, init, { origin: "http://evil.example" });
    expect(bad.status).toBe(403);
    const own = await rawPost(f.t.url, "/mcp", f.alice, init, { origin: new URL(f.t.url).origin });
    expect(own.status).toBe(200);
  });

  it("refuses a foreign Host (DNS rebinding) with 403", async () => {
    const body = JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "1" } },
    });
    const send = (host: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(
          {
            host: "127.0.0.1",
            port: f.t.port,
            path: "/mcp",
            method: "POST",
            headers: {
              host,
              authorization: `Bearer ${f.alice}`,
              "content-type": "application/json",
              accept: "application/json, text/event-stream",
              "content-length": Buffer.byteLength(body),
            },
          },
          (res) => {
            let text = "";
            res.on("data", (d) => (text += d));
            res.on("end", () => resolve({ status: res.statusCode!, body: text }));
          },
        );
        req.on("error", reject);
        req.end(body);
      });
    const evil = await send(`rebound.evil.example:${f.t.port}`);
    expect(evil.status).toBe(403);
    expect(JSON.parse(evil.body).error.message).toBe("Forbidden: Host not allowed");
    expect((await send(`localhost:${f.t.port}`)).status).toBe(200);
  });

  it("negotiates 2025-03-26, 2025-06-18 and 2025-11-25, and checks MCP-Protocol-Version", async () => {
    for (const v of ["2025-03-26", "2025-06-18", "2025-11-25"]) {
      const init = await rawInitialize(f.t.url, "/mcp/alpha", f.alice, v);
      expect(init.result.protocolVersion).toBe(v);
      const ok = await rawPost(
        f.t.url,
        "/mcp/alpha",
        f.alice,
        { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "echo", arguments: { message: v } } },
        { "mcp-session-id": init.session!, "mcp-protocol-version": v },
      );
      expect(ok.body.result.content[0].text).toBe(`Echo: ${v}`);
    }
    expect((await rawInitialize(f.t.url, "/mcp", f.alice, "1999-01-01")).result.protocolVersion).toBe("2025-11-25");
    const s = (await rawInitialize(f.t.url, "/mcp", f.alice, "2025-06-18")).session!;
    const list = { jsonrpc: "2.0", id: 2, method: "tools/list" };
    // an unknown version is refused; another session-era version the gateway speaks is accepted
    // (clients name another supported version on concurrent requests: conformance server-sse-multiple-streams)
    expect(
      (await rawPost(f.t.url, "/mcp", f.alice, list, { "mcp-session-id": s, "mcp-protocol-version": "2019-01-01" }))
        .status,
    ).toBe(400);
    expect(
      (await rawPost(f.t.url, "/mcp", f.alice, list, { "mcp-session-id": s, "mcp-protocol-version": "2025-11-25" }))
        .status,
    ).toBe(200);
    expect(
      (await rawPost(f.t.url, "/mcp", f.alice, list, { "mcp-session-id": s, "mcp-protocol-version": "2025-03-26" }))
        .status,
    ).toBe(200);
    expect((await rawPost(f.t.url, "/mcp", f.alice, list, { "mcp-session-id": s })).status).toBe(200);
    // a modern version named in the header needs the modern per-request _meta: without it, 400 -32602
    const modernHeader = await rawPost(f.t.url, "/mcp", f.alice, list, {
      "mcp-session-id": s,
      "mcp-protocol-version": "2026-07-28",
    });
    expect(modernHeader.status).toBe(400);
    expect(modernHeader.body.error.code).toBe(-32602);
  });

  it("answers bad input with the JSON-RPC error codes", async () => {
    const s = (await rawInitialize(f.t.url, "/mcp", f.alice, "2025-06-18")).session!;
    const h = { "mcp-session-id": s };
    const parse = await rawPost(f.t.url, "/mcp", f.alice, "{not json", h);
    expect(parse.status).toBe(400);
    expect(parse.body.error.code).toBe(-32700);
    expect(
      (await rawPost(f.t.url, "/mcp", f.alice, { jsonrpc: "1.0", id: 1, method: "ping" }, h)).body.error.code,
    ).toBe(-32600);
    expect(
      (await rawPost(f.t.url, "/mcp", f.alice, { jsonrpc: "2.0", id: 1, method: "no/such/method" }, h)).body.error.code,
    ).toBe(-32601);
    expect(
      (await rawPost(f.t.url, "/mcp", f.alice, { jsonrpc: "2.0", id: 1, method: "tools/call", params: {} }, h)).body
        .error.code,
    ).toBe(-32602);
    expect(
      (
        await rawPost(
          f.t.url,
          "/mcp",
          f.alice,
          { jsonrpc: "2.0", id: 1, method: "tools/list", params: { cursor: "bogus" } },
          h,
        )
      ).body.error.code,
    ).toBe(-32602);
    // a response to a request the gateway never relayed
    expect(
      (
        await rawPost(
          f.t.url,
          "/mcp",
          f.alice,
          { jsonrpc: "2.0", id: "mcpgw-req.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", result: {} },
          h,
        )
      ).status,
    ).toBe(400);
    expect(
      (await rawPost(f.t.url, "/mcp", f.alice, { jsonrpc: "2.0", method: "notifications/initialized" }, h)).status,
    ).toBe(202);
  });

  it("takes batches under 2025-03-26 only", async () => {
    const old = (await rawInitialize(f.t.url, "/mcp", f.alice, "2025-03-26")).session!;
    const batch = [
      { jsonrpc: "2.0", id: 1, method: "ping" },
      { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "alpha__echo", arguments: { message: "b" } } },
      { jsonrpc: "2.0", method: "notifications/initialized" },
    ];
    const r = await rawPost(f.t.url, "/mcp", f.alice, batch, { "mcp-session-id": old, accept: "application/json" });
    expect(r.status).toBe(200);
    expect(r.body).toHaveLength(2);
    expect(r.body.find((m: any) => m.id === 2).result.content[0].text).toBe("Echo: b");
    const now = (await rawInitialize(f.t.url, "/mcp", f.alice, "2025-06-18")).session!;
    const refused = await rawPost(f.t.url, "/mcp", f.alice, batch, { "mcp-session-id": now });
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe(-32600);
  });

  it("answers GET with an event stream on /mcp and /mcp/<server>, and 405 for other methods", async () => {
    const agg = (await rawInitialize(f.t.url, "/mcp", f.alice)).session!;
    const g = await fetch(f.t.url + "/mcp", {
      headers: { authorization: `Bearer ${f.alice}`, accept: "text/event-stream", "mcp-session-id": agg },
    });
    expect(g.status).toBe(200);
    expect(g.headers.get("content-type")).toContain("text/event-stream");
    await g.body?.cancel();
    expect(
      (
        await fetch(f.t.url + "/mcp", {
          method: "PUT",
          headers: { authorization: `Bearer ${f.alice}`, "mcp-session-id": agg },
        })
      ).status,
    ).toBe(405);
    const one = (await rawInitialize(f.t.url, "/mcp/alpha", f.alice)).session!;
    const ctl = new AbortController();
    const s = await fetch(f.t.url + "/mcp/alpha", {
      headers: { authorization: `Bearer ${f.alice}`, accept: "text/event-stream", "mcp-session-id": one },
      signal: ctl.signal,
    });
    expect(s.status).toBe(200);
    expect(s.headers.get("content-type")).toContain("text/event-stream");
    ctl.abort();
  });
});
