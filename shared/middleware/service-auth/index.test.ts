import { Hono } from "hono";
import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { requireService } from ".";
import { ASSERTION_HEADER } from "../../edge";
import { signAssertion } from "../../identity";
import {
  SERVICE_ASSERTION_HEADER,
  SERVICE_ASSERTION_TYPE,
  serviceId,
  signServiceAssertion,
  verifyServiceAssertion,
  withServiceAssertion,
} from "../../service-auth";

const SECRET = "service-secret-for-the-unit-test-0123456789";
const OTHER = "another-service-secret-0123456789-abcdefgh";

const app = new Hono()
  .use("/internal/*", requireService({ self: "catalog", callers: ["mcp", "admin"], secret: () => SECRET }))
  .get("/internal/x", (c) => c.json({ caller: c.get("caller") }))
  .get("/healthz", (c) => c.json({ ok: true }));

const call = (headers: Record<string, string> = {}) => app.request("/internal/x", { headers });

/** A token like a service assertion with one thing changed. */
async function forged(o: {
  secret?: string;
  typ?: string;
  iss?: string;
  aud?: string;
  exp?: number | null;
  iat?: boolean;
  alg?: "HS256" | "HS512";
}): Promise<string> {
  let jwt = new SignJWT({})
    .setProtectedHeader({ alg: o.alg ?? "HS256", typ: o.typ ?? SERVICE_ASSERTION_TYPE })
    .setIssuer(o.iss ?? serviceId("mcp"))
    .setAudience(o.aud ?? serviceId("catalog"));
  if (o.iat !== false) jwt = jwt.setIssuedAt();
  if (o.exp !== null) jwt = jwt.setExpirationTime(o.exp ?? Math.floor(Date.now() / 1000) + 60);
  return jwt.sign(new TextEncoder().encode(o.secret ?? SECRET));
}

describe("requireService", () => {
  it("lets a valid assertion from an allowed caller through and names the caller", async () => {
    const res = await call({ [SERVICE_ASSERTION_HEADER]: await signServiceAssertion(SECRET, "mcp", "catalog") });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ caller: "mcp" });
    expect(
      await (await call({ [SERVICE_ASSERTION_HEADER]: await signServiceAssertion(SECRET, "admin", "catalog") })).json(),
    ).toEqual({ caller: "admin" });
    // routes outside the guarded prefix stay open
    expect((await app.request("/healthz")).status).toBe(200);
  });

  it("refuses with 401 JSON: no token, wrong key, wrong audience, issuer not allowed, identity assertion", async () => {
    const refused: Record<string, string>[] = [
      {},
      { [SERVICE_ASSERTION_HEADER]: "not-a-jwt" },
      { [SERVICE_ASSERTION_HEADER]: await signServiceAssertion(OTHER, "mcp", "catalog") },
      { [SERVICE_ASSERTION_HEADER]: await signServiceAssertion(SECRET, "mcp", "admin") },
      { [SERVICE_ASSERTION_HEADER]: await signServiceAssertion(SECRET, "auth", "catalog") },
      { [SERVICE_ASSERTION_HEADER]: await signServiceAssertion(SECRET, "edge", "catalog") },
      // an identity assertion signed with the same secret is no service assertion, in either header
      {
        [SERVICE_ASSERTION_HEADER]: await signAssertion(
          { email: "a@b.test", groups: [], admin: true, via: "apikey" },
          SECRET,
        ),
      },
      {
        [ASSERTION_HEADER]: await signAssertion({ email: "a@b.test", groups: [], admin: true, via: "apikey" }, SECRET),
      },
    ];
    for (const headers of refused) {
      const res = await call(headers);
      expect(res.status, JSON.stringify(headers)).toBe(401);
      expect(await res.json()).toMatchObject({ error: "unauthenticated" });
    }
  });
});

describe("verifyServiceAssertion", () => {
  it("checks every claim: type, issuer, audience, expiry and issue time required, HS256 only", async () => {
    const ok = await forged({});
    expect(await verifyServiceAssertion(ok, SECRET, "catalog", ["mcp"])).toBe("mcp");
    const now = Math.floor(Date.now() / 1000);
    for (const [why, token] of [
      ["other type", await forged({ typ: "JWT" })],
      ["unknown issuer", await forged({ iss: "mcp-gateway-evil" })],
      ["other audience", await forged({ aud: serviceId("mcp") })],
      ["expired", await forged({ exp: now - 60 })],
      ["no expiry", await forged({ exp: null })],
      ["no issue time", await forged({ iat: false })],
      ["another algorithm", await forged({ alg: "HS512" })],
      ["another key", await forged({ secret: OTHER })],
    ] as const) {
      expect(await verifyServiceAssertion(token, SECRET, "catalog", ["mcp"]), why).toBeNull();
    }
    // a token verified once is remembered, but the caller and audience are still checked each time
    expect(await verifyServiceAssertion(ok, SECRET, "catalog", ["admin"])).toBeNull();
    expect(await verifyServiceAssertion(ok, SECRET, "admin", ["mcp"])).toBeNull();
    expect(await verifyServiceAssertion(ok, OTHER, "catalog", ["mcp"])).toBeNull();
    expect(await verifyServiceAssertion(null, SECRET, "catalog", ["mcp"])).toBeNull();
  });

  it("reuses a token while over half its lifetime is left", async () => {
    const a = await signServiceAssertion(SECRET, "mcp", "catalog");
    expect(await signServiceAssertion(SECRET, "mcp", "catalog")).toBe(a);
    expect(await signServiceAssertion(SECRET, "admin", "catalog")).not.toBe(a);
    await expect(signServiceAssertion("short", "mcp", "catalog")).rejects.toThrow(/SERVICE_SECRET/);
  });
});

describe("withServiceAssertion", () => {
  it("adds the assertion to every request a binding sends, keeping method, path and headers", async () => {
    const seen: Request[] = [];
    const binding = {
      fetch: async (input: RequestInfo | URL, init?: RequestInit) => (
        seen.push(new Request(input, init)),
        app.fetch(new Request(input, init))
      ),
    };
    const catalog = withServiceAssertion(binding, SECRET, "mcp", "catalog");
    const res = await catalog.fetch("https://catalog.internal/internal/x", { headers: { "if-none-match": '"x"' } });
    expect(res.status).toBe(200);
    expect(seen[0]!.headers.get("if-none-match")).toBe('"x"');
    expect(
      await verifyServiceAssertion(seen[0]!.headers.get(SERVICE_ASSERTION_HEADER), SECRET, "catalog", ["mcp"]),
    ).toBe("mcp");
    await catalog.fetch(new Request("https://catalog.internal/internal/refresh/s", { method: "POST" }));
    expect(seen[1]!.method).toBe("POST");
    expect(seen[1]!.headers.get(SERVICE_ASSERTION_HEADER)).toBeTruthy();
    expect(() => withServiceAssertion(binding, "", "mcp", "catalog")).toThrow(/SERVICE_SECRET/);
  });
});
