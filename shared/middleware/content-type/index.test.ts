import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { mediaType, requireContentType } from ".";

const app = new Hono()
  .use("*", requireContentType({ when: (c) => c.req.path.startsWith("/api") }))
  .all("*", (c) => c.json({ ok: true }));

describe("requireContentType", () => {
  it("reads the media type without parameters", () => {
    expect(mediaType("Application/JSON; charset=utf-8")).toBe("application/json");
    expect(mediaType(null)).toBe("");
  });

  it("refuses form posts and missing types with 415, accepts JSON", async () => {
    const form = await app.request("/api/x", {
      method: "PUT",
      body: "a=1",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(form.status).toBe(415);
    expect(await form.json()).toMatchObject({ error: "unsupported_media_type" });
    expect(
      (await app.request("/api/x", { method: "POST", body: "{}", headers: { "content-type": "text/plain" } })).status,
    ).toBe(415);
    expect(
      (
        await app.request("/api/x", {
          method: "POST",
          body: "{}",
          headers: { "content-type": "application/json; charset=utf-8" },
        })
      ).status,
    ).toBe(200);
    // GET, an empty body and paths outside `when` pass
    expect((await app.request("/api/x")).status).toBe(200);
    expect((await app.request("/api/x", { method: "POST" })).status).toBe(200);
    expect(
      (await app.request("/other", { method: "POST", body: "x", headers: { "content-type": "text/plain" } })).status,
    ).toBe(200);
  });
});
