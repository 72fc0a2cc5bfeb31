import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { DEFAULT_CSP, securityHeaders } from ".";

const app = new Hono()
  .use("*", securityHeaders())
  .get("/page", (c) => c.html("<p>hi</p>"))
  .get("/own-csp", (c) => c.html("<p>hi</p>", 200, { "Content-Security-Policy": "default-src 'none'" }))
  .get("/json", (c) => c.json({ ok: true }))
  .get(
    "/crash",
    () =>
      new Response("Error: boom\n    at handler (/src/index.ts:1:1)", {
        status: 500,
        headers: { "content-type": "text/plain" },
      }),
  )
  .get("/upstream", () => fetchLike());

// a Response with immutable headers, as a service binding returns it
function fetchLike(): Response {
  const r = Response.redirect("https://example.com/", 302);
  return r;
}

describe("securityHeaders", () => {
  it("puts CSP, framing and referrer headers on HTML, nosniff everywhere", async () => {
    const page = await app.request("/page");
    expect(page.headers.get("content-security-policy")).toBe(DEFAULT_CSP);
    expect(page.headers.get("x-frame-options")).toBe("DENY");
    expect(page.headers.get("x-content-type-options")).toBe("nosniff");
    const json = await app.request("/json");
    expect(json.headers.get("x-content-type-options")).toBe("nosniff");
    expect(json.headers.get("content-security-policy")).toBeNull();
  });

  it("keeps a worker's own CSP and copes with immutable headers", async () => {
    expect((await app.request("/own-csp")).headers.get("content-security-policy")).toBe("default-src 'none'");
    const up = await app.request("/upstream");
    expect(up.status).toBe(302);
    expect(up.headers.get("x-content-type-options")).toBe("nosniff");
  });

  it("turns a text 5xx (a stack trace) into a JSON error with the same status", async () => {
    const res = await app.request("/crash");
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ error: "internal", message: "internal error" });
    expect(text).not.toContain("index.ts");
  });

  it("adds HSTS only behind HTTPS", async () => {
    expect((await app.request("/json")).headers.get("strict-transport-security")).toBeNull();
    expect(
      (await app.request("/json", { headers: { "x-forwarded-proto": "https" } })).headers.get(
        "strict-transport-security",
      ),
    ).toContain("max-age");
  });
});
