// The gateway's protocol pieces inside workerd: JSON-RPC classification, SSE parsing, cursors,
// resource templates, and the encrypted session / relayed-id tokens.
import { describe, expect, it } from "vitest";
import { classify } from "../../shared/mcp/jsonrpc";
import { parseSse, SseTooLarge } from "../../shared/mcp/sse";
import { negotiateVersion } from "../../shared/mcp/versions";
import { listPage } from "../../workers/mcp/src/dispatch/pagination";
import { heldResource, templateMatches } from "../../workers/mcp/src/dispatch/resources";
import type { CatalogServer } from "../../workers/mcp/src/catalog.client";
import { openRelayedId, openSession, sealRelayedId, sealSession } from "../../workers/mcp/src/tokens";

const secret = "unit-test-session-secret-0123456789abcdef";
const state = {
  sid: "s-1",
  email: "a@example.com",
  scope: "*",
  v: "2025-06-18",
  caps: { sampling: {} },
  iat: 1_700_000_000,
};

describe("JSON-RPC classification", () => {
  it("tells requests, notifications and responses apart and explains what is invalid", () => {
    expect(classify({ jsonrpc: "2.0", id: 1, method: "ping" }).kind).toBe("request");
    expect(classify({ jsonrpc: "2.0", method: "notifications/initialized" }).kind).toBe("notification");
    expect(classify({ jsonrpc: "2.0", id: "x", result: {} }).kind).toBe("response");
    expect(classify({ jsonrpc: "2.0", id: null, error: { code: 1, message: "m" } }).kind).toBe("response");
    for (const bad of [
      null,
      [],
      "x",
      { id: 1, method: "ping" },
      { jsonrpc: "2.0", id: {}, method: "ping" },
      { jsonrpc: "2.0", id: 1, method: "" },
      { jsonrpc: "2.0", id: 1, method: "x", params: [1] },
      { jsonrpc: "2.0", id: 1 },
    ]) {
      expect(classify(bad).kind, JSON.stringify(bad)).toBe("invalid");
    }
  });

  it("negotiates the client's version when supported, else the latest", () => {
    expect(negotiateVersion("2025-03-26")).toBe("2025-03-26");
    expect(negotiateVersion("2024-11-05")).toBe("2025-11-25");
    expect(negotiateVersion(undefined)).toBe("2025-11-25");
  });
});

describe("SSE parsing", () => {
  it("yields events across chunk boundaries, with multi-line data, comments and CRLF", async () => {
    const enc = new TextEncoder();
    const parts = [': hello\n\nevent: message\ndata: {"a"', ":1}\n\r\nid: 7\ndata: one\ndata: two\n\n", "data: last"];
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (const p of parts) c.enqueue(enc.encode(p));
        c.close();
      },
    });
    const events = [];
    for await (const e of parseSse(body)) events.push(e);
    expect(events).toEqual([
      { event: "message", data: '{"a":1}' },
      { event: "message", data: "one\ntwo", id: "7" },
      { event: "message", data: "last", id: "7" },
    ]);
  });

  const stream = (parts: string[]) => {
    const enc = new TextEncoder();
    return new ReadableStream<Uint8Array>({
      start(c) {
        for (const p of parts) c.enqueue(enc.encode(p));
        c.close();
      },
    });
  };

  it("reads a CRLF split between two chunks as one line break (not an empty line that ends the event)", async () => {
    const events = [];
    for await (const e of parseSse(stream(["data: first\r", "\ndata: second\r\n\r\n"]))) events.push(e);
    expect(events).toEqual([{ event: "message", data: "first\nsecond" }]);
  });

  it("carries retry with its event, alone when no data follows, and keeps the last event id", async () => {
    const events = [];
    const parts = ["id: p1\nretry: 1500\ndata: \n\n", "data: {}\n\n", "retry: 10\n\nretry: 20\n\n"];
    for await (const e of parseSse(stream(parts))) events.push(e);
    expect(events).toEqual([
      { event: "message", data: "", id: "p1", retry: 1500 },
      { event: "message", data: "{}", id: "p1" },
      { event: "message", data: "", id: "p1", retry: 10 },
      { event: "message", data: "", id: "p1", retry: 20 },
    ]);
  });

  it("ignores a retry that is not a number, and an id with NUL", async () => {
    const events = [];
    for await (const e of parseSse(stream(["retry: soon\nid: a\u0000b\ndata: x\n\n"]))) events.push(e);
    expect(events).toEqual([{ event: "message", data: "x" }]);
  });

  it("refuses an event longer than its limit, however it is chunked", async () => {
    const read = async (parts: string[]) => {
      for await (const _ of parseSse(stream(parts), undefined, 64)) void _;
    };
    await expect(read([`data: ${"x".repeat(100)}\n\n`])).rejects.toThrow(SseTooLarge);
    await expect(read(["data: ", "x".repeat(40), "\ndata: ", "y".repeat(40), "\n\n"])).rejects.toThrow(/exceeds 64/);
    // many small events pass: the limit is per event
    await expect(read(Array.from({ length: 20 }, () => `data: ${"z".repeat(30)}\n\n`))).resolves.toBeUndefined();
  });
});

describe("list cursors", () => {
  it("pages through every item and refuses cursors it did not issue", () => {
    const items = Array.from({ length: 7 }, (_, i) => i);
    const seen: number[] = [];
    let cursor: string | undefined;
    do {
      const page = listPage(items, cursor, 3)!;
      seen.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(items);
    expect(listPage(items, "bogus", 3)).toBeNull();
    expect(listPage(items, btoa("o99"), 3)).toBeNull();
    expect(listPage(items, 5, 3)).toBeNull();
  });
});

describe("resource templates", () => {
  it("match the URIs they expand to, and nothing else", () => {
    const t = "demo://resource/dynamic/text/{resourceId}";
    expect(templateMatches(t, "demo://resource/dynamic/text/3")).toBe(true);
    expect(templateMatches(t, "demo://resource/dynamic/text/3/x")).toBe(false);
    expect(templateMatches(t, "demo://resource/dynamic/blob/3")).toBe(false);
    expect(templateMatches("file://{+path}", "file:///a/b/c.txt")).toBe(true);
    expect(templateMatches("search://q{?term,limit}", "search://q?term=x&limit=2")).toBe(true);
    expect(templateMatches("a.b://{x}", "aXb://1")).toBe(false);
    // a template that does not parse matches nothing
    expect(templateMatches("broken://{unclosed", "broken://{unclosed")).toBe(false);
  });

  it("refuse reads under review: a held resource by its uri, a held template for the URIs no resource lists", () => {
    const server = {
      resources: [{ uri: "docs://readme" }, { uri: "docs://files/listed.txt" }],
      resourceTemplates: [{ uriTemplate: "docs://files/{path}" }],
      heldItems: { resource: ["docs://readme"], resource_template: ["docs://files/{path}"] },
    } as unknown as CatalogServer;
    expect(heldResource(server, "docs://readme")).toBe(true);
    expect(heldResource(server, "docs://files/other.txt")).toBe(true);
    // a listed resource that is not held is read, even where a held template also matches it
    expect(heldResource(server, "docs://files/listed.txt")).toBe(false);
    expect(heldResource({ ...server, heldItems: { resource: ["docs://readme"] } }, "docs://files/x")).toBe(false);
    expect(heldResource({ ...server, heldItems: undefined }, "docs://readme")).toBe(false);
  });
});

describe("session and relayed-id tokens", () => {
  it("round-trip and refuse tampering, other secrets and the other kind of token", async () => {
    const token = await sealSession(secret, state);
    expect(token).toMatch(/^[\x21-\x7e]+$/);
    expect(await openSession(secret, token)).toEqual(state);
    expect(await openSession(secret + "x", token)).toBeNull();
    const flipped = token.slice(0, -3) + (token.at(-3) === "A" ? "B" : "A") + token.slice(-2);
    expect(await openSession(secret, flipped)).toBeNull();
    const origin = {
      k: "up" as const,
      sid: "s-1",
      email: "a@example.com",
      reply: { server: "alpha", via: "session" as const, usid: "u-1", uv: "2025-06-18" },
      id: 4,
    };
    const relayed = await sealRelayedId(secret, origin);
    expect(await openRelayedId(secret, relayed)).toMatchObject({
      k: "up",
      reply: { server: "alpha", usid: "u-1" },
      id: 4,
    });
    // the same upstream request always gets the same id (a later cancellation names it again)
    expect(await sealRelayedId(secret, origin)).toBe(relayed);
    // a session token is not a relayed id and vice versa
    expect(await openRelayedId(secret, "mcpgw-req." + token.slice("mcpgw1.".length))).toBeNull();
    expect(await openSession(secret, "mcpgw1." + relayed.slice("mcpgw-req.".length))).toBeNull();
  });
});
