/**
 * The forwardAuth endpoint answers a signed identity assertion, so no public request may reach
 * it, under any spelling (issue 13: `/auth/%76erify` did, because the edge compared the raw path
 * and Hono decoded it). Requests go out with their target verbatim (test/harness/raw-http.ts).
 * Through the edge here; through the Traefik stand-in in production-workerd.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IDENTITY_HEADERS } from "../../shared/edge";
import { startTestStack, type TestStack } from "../harness/stack";
import { rawRequest } from "../harness/raw-http";
import { VERIFY_SPELLINGS } from "../harness/verify-spellings";

let t: TestStack;
let forwarded: Record<string, string>;

beforeAll(async () => {
  t = await startTestStack({ forwardAuthPort: 0 });
  // what a forwardAuth call carries: a valid credential and the original request
  forwarded = {
    authorization: `Bearer ${t.adminKey}`,
    "x-forwarded-method": "GET",
    "x-forwarded-proto": "http",
    "x-forwarded-host": new URL(t.url).host,
    "x-forwarded-uri": "/admin/api/whoami",
    accept: "application/json",
  };
});
afterAll(() => t?.stop());

function expectNoIdentity(headers: Record<string, unknown>, label: string) {
  for (const h of IDENTITY_HEADERS) expect(headers[h.toLowerCase()], `${label}: ${h}`).toBeUndefined();
}

describe("the forwardAuth endpoint through the edge", () => {
  it("answers a signed assertion on its own entrypoint (control: what a public request must never get)", async () => {
    const res = await rawRequest(t.forwardAuthUrl!, "/auth/verify", forwarded);
    expect(res.status).toBe(200);
    expect(res.headers["x-identity-assertion"]).toMatch(/^ey/);
    expect(res.headers["x-user-email"]).toBe("admin@localhost");
  });

  it.each(VERIFY_SPELLINGS)("%s is not found, and no identity header comes back", async (spelling) => {
    const res = await rawRequest(t.url, spelling, forwarded);
    expect(res.status, `${spelling}: ${res.body}`).toBe(404);
    expect(JSON.parse(res.body)).toMatchObject({ error: "not_found" });
    expectNoIdentity(res.headers, spelling);
  });

  it.each([
    "/auth/verify%2f",
    "/auth%2fverify",
    "/auth/verify%5c",
    "/auth%5Cverify",
    "/auth/ver%00ify",
    "/auth/%zzverify",
  ])("%s (encoded slash, control character, broken encoding) is refused with 400", async (spelling) => {
    const res = await rawRequest(t.url, spelling, forwarded);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ error: "invalid_path" });
    expectNoIdentity(res.headers, spelling);
  });

  it("every method, not only GET", async () => {
    for (const method of ["POST", "HEAD", "PUT", "DELETE", "OPTIONS"]) {
      const res = await rawRequest(t.url, "/auth/%76erify", forwarded, method);
      expect(res.status, method).toBe(404);
      expectNoIdentity(res.headers, method);
    }
  });
});

describe("one normalised path for routing and for the worker behind", () => {
  it("an encoded spelling of an admin path is routed, authenticated and answered as that path", async () => {
    const res = await rawRequest(t.url, "/admin/%61pi//whoami/", {
      authorization: `Bearer ${t.adminKey}`,
      accept: "application/json",
    });
    expect(res.status, res.body).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ email: "admin@localhost", admin: true });
  });

  it("dot segments cannot carry a request past its route", async () => {
    const res = await rawRequest(t.url, "/mcp/%2e%2e/admin/api/whoami", { accept: "application/json" });
    // normalised to /admin/api/whoami: forwardAuth for /admin, no credentials -> 401 (not the mcp worker)
    expect(res.status).toBe(401);
    expect(String(res.headers["www-authenticate"])).toContain("/.well-known/oauth-protected-resource/admin/api/whoami");
  });
});
