// Sessions survive a workerd restart and continue on a second workerd process against the same
// database; upstream sessions are re-opened transparently; a slow or dead upstream gives a clear
// JSON-RPC error without breaking the others. Real upstreams, workerd processes and Postgres.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../scripts/lib/ports";
import type { Managed } from "../../scripts/lib/processes";
import { startWorkerd } from "../../scripts/lib/workerd";
import { gatewayClient, rawInitialize, rawPost, startMcpFixture, type McpFixture } from "./mcp.fixture";

let f: McpFixture;
let second: Managed | undefined;
beforeAll(async () => {
  f = await startMcpFixture({ UPSTREAM_TIMEOUT_MS: "2500" });
});
afterAll(async () => {
  await second?.stop();
  await f?.stop();
});

const echo = (base: string, session: string, message: string, path = "/mcp/alpha", key = f.alice) =>
  rawPost(
    base,
    path,
    key,
    {
      jsonrpc: "2.0",
      id: 9,
      method: "tools/call",
      params: { name: path === "/mcp" ? "alpha__echo" : "echo", arguments: { message } },
    },
    { "mcp-session-id": session },
  );

const upstreamRows = () =>
  f.t.db.sql`SELECT session_id, server_id, email, upstream_session_id FROM mcp_upstream_sessions ORDER BY created_at`;

describe("sessions without session state in memory", () => {
  it("continue after workerd restarts, on the same upstream session", async () => {
    const { client } = await gatewayClient(f.t.url, "/mcp/alpha", f.alice);
    expect((await client.callTool({ name: "echo", arguments: { message: "before" } })).content).toEqual([
      { type: "text", text: "Echo: before" },
    ]);
    const before = await upstreamRows();
    expect(before).toHaveLength(1);
    expect(before[0]).toMatchObject({ server_id: "alpha", email: "alice@acme.test" });
    await f.t.restartWorkerd();
    expect((await client.callTool({ name: "echo", arguments: { message: "after" } })).content).toEqual([
      { type: "text", text: "Echo: after" },
    ]);
    expect(await upstreamRows()).toEqual(before);
    await client.close().catch(() => {});
  });

  it("continue on a second workerd process started against the same database", async () => {
    const port = await freePort();
    second = await startWorkerd({ port, env: f.t.workerEnv, name: "workerd-2" });
    const other = `http://127.0.0.1:${port}`;
    await f.t.db.sql`DELETE FROM mcp_upstream_sessions`;
    const init = await rawInitialize(f.t.url, "/mcp", f.alice);
    expect((await echo(f.t.url, init.session!, "one", "/mcp")).body.result.content[0].text).toBe("Echo: one");
    const rows = await upstreamRows();
    expect((await echo(other, init.session!, "two", "/mcp")).body.result.content[0].text).toBe("Echo: two");
    expect((await echo(f.t.url, init.session!, "three", "/mcp")).body.result.content[0].text).toBe("Echo: three");
    expect(await upstreamRows()).toEqual(rows);
    // and the other way round, with a session opened on the second process
    const init2 = await rawInitialize(other, "/mcp/alpha", f.alice);
    expect((await echo(f.t.url, init2.session!, "four")).body.result.content[0].text).toBe("Echo: four");
    // another user's token is refused on either process
    expect((await echo(other, init.session!, "x", "/mcp", f.bob)).status).toBe(404);
    // a session ended on one process is ended on the other (each isolate looks every second)
    const del = await fetch(other + "/mcp", {
      method: "DELETE",
      headers: { authorization: `Bearer ${f.alice}`, "mcp-session-id": init.session! },
    });
    expect(del.status).toBe(204);
    expect((await echo(other, init.session!, "five", "/mcp")).status).toBe(404);
    await expect
      .poll(async () => (await echo(f.t.url, init.session!, "six", "/mcp")).status, { timeout: 3000, interval: 300 })
      .toBe(404);
  });

  it("re-opens an upstream session the upstream forgot, transparently", async () => {
    const init = await rawInitialize(f.t.url, "/mcp/alpha", f.alice);
    expect((await echo(f.t.url, init.session!, "a")).body.result).toBeDefined();
    const [row] = await f.t.db
      .sql`SELECT upstream_session_id FROM mcp_upstream_sessions ORDER BY created_at DESC LIMIT 1`;
    const old = String(row!.upstream_session_id);
    // end it at the upstream itself, behind the gateway's back
    const gone = await fetch(f.alpha.url, {
      method: "DELETE",
      headers: { "mcp-session-id": old, "mcp-protocol-version": "2025-11-25" },
    });
    expect(gone.status).toBeLessThan(300);
    expect((await echo(f.t.url, init.session!, "b")).body.result.content[0].text).toBe("Echo: b");
    const [now] = await f.t.db
      .sql`SELECT upstream_session_id FROM mcp_upstream_sessions ORDER BY created_at DESC LIMIT 1`;
    expect(now!.upstream_session_id).not.toBe(old);
  });
});

describe("failing upstreams", () => {
  it("a silent upstream times out with a clear JSON-RPC error", async () => {
    const init = await rawInitialize(f.t.url, "/mcp/alpha", f.alice);
    const r = await rawPost(
      f.t.url,
      "/mcp/alpha",
      f.alice,
      {
        jsonrpc: "2.0",
        id: 5,
        method: "tools/call",
        params: { name: "trigger-long-running-operation", arguments: { duration: 6, steps: 1 } },
      },
      { "mcp-session-id": init.session! },
    );
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      jsonrpc: "2.0",
      id: 5,
      error: { code: -32000, message: expect.stringMatching(/^Upstream alpha failed: .*2500 ms/) },
    });
  });

  it("a dead upstream fails its calls clearly; the other servers keep working", async () => {
    const carol = await f.t.userKey("carol@both.test", { groups: ["acme-users", "globex-users"] });
    const init = await rawInitialize(f.t.url, "/mcp", carol);
    const call = (name: string) =>
      rawPost(
        f.t.url,
        "/mcp",
        carol,
        { jsonrpc: "2.0", id: 6, method: "tools/call", params: { name, arguments: { message: "m" } } },
        { "mcp-session-id": init.session! },
      );
    expect((await call("beta__echo")).body.result).toBeDefined();
    await f.beta.proc.stop();
    const dead = await call("beta__echo");
    expect(dead.body.error).toEqual({ code: -32000, message: expect.stringMatching(/^Upstream beta failed: /) });
    expect((await call("alpha__echo")).body.result.content[0].text).toBe("Echo: m");
    const list = await rawPost(
      f.t.url,
      "/mcp",
      carol,
      { jsonrpc: "2.0", id: 7, method: "tools/list" },
      { "mcp-session-id": init.session! },
    );
    expect(list.body.result.tools.length).toBeGreaterThan(0);
    // the audit is written after the responses (batched): wait for it
    const audit = async () =>
      (
        await f.t.db
          .sql`SELECT outcome FROM audit_log WHERE kind = 'tool_call' AND actor = 'carol@both.test' AND server_id = 'beta' ORDER BY id`
      ).map((a) => a.outcome);
    await expect.poll(audit, { timeout: 10_000 }).toEqual(["ok", "error"]);
  });
});
