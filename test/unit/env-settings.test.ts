/**
 * Settings that would be accepted but do nothing, or that would let the client's own Host decide
 * security, are refused by the workers' env schemas with one message naming the variable and the
 * fix (issue 13). `npm start` runs the same schemas before workerd starts (start-cli.test.ts).
 */
import { describe, expect, it } from "vitest";
import { EnvError, readEnv } from "../../shared/env";
import { AdminApiKey } from "../../shared/schemas";
import { AdminEnv } from "../../workers/admin/src/env";
import { AuthEnv } from "../../workers/auth/src/env";
import { CatalogEnv } from "../../workers/catalog/src/env";
import { McpEnv } from "../../workers/mcp/src/env";

const base = {
  DATABASE_URL: "postgres://x@127.0.0.1/db",
  IDENTITY_SECRET: "unit-test-identity-secret-0123456789abcdef",
  PUBLIC_URL: "https://gw.example.com",
};
const SERVICE_SECRET = "unit-test-service-secret-0123456789abcdef";
const mcpBase = { ...base, SERVICE_SECRET, SESSION_SECRET: "unit-test-session-secret-0123456789abcdef" };
const adminBase = { ...base, SERVICE_SECRET, SECRETS_KEY: "unit-test-secrets-key-0123456789abcdef" };
/** The auth worker seals users' upstream tokens (per-user servers): it needs SECRETS_KEY too. */
const authBase = { ...base, SECRETS_KEY: "unit-test-secrets-key-0123456789abcdef" };

/** The one-line message readEnv throws for these variables, or null when they are accepted. */
function refusal(schema: Parameters<typeof readEnv>[0], vars: Record<string, unknown>): string | null {
  try {
    readEnv(schema, { ...vars });
    return null;
  } catch (err) {
    expect(err).toBeInstanceOf(EnvError);
    expect((err as Error).message).not.toContain("\n");
    return (err as Error).message;
  }
}

describe("PUBLIC_URL is required where it decides security", () => {
  it.each([
    ["auth", AuthEnv, authBase],
    ["mcp", McpEnv, mcpBase],
    ["admin", AdminEnv, adminBase],
  ] as const)("%s: missing -> one line naming PUBLIC_URL and how to set it", (_name, schema, vars) => {
    const { PUBLIC_URL: _, ...without } = vars;
    expect(refusal(schema, without)).toMatch(
      /PUBLIC_URL: required: the gateway's public origin, e\.g\. https:\/\/gateway\.example\.com/,
    );
    expect(refusal(schema, vars)).toBeNull();
  });

  it("must be an origin (no path), and is normalised without a trailing slash", () => {
    expect(refusal(AuthEnv, { ...authBase, PUBLIC_URL: "https://gw.example.com/gateway" })).toContain(
      "PUBLIC_URL: must be an origin only",
    );
    expect(refusal(AuthEnv, { ...authBase, PUBLIC_URL: "gw.example.com" })).toContain("PUBLIC_URL: must be a URL");
    expect(refusal(AuthEnv, { ...authBase, PUBLIC_URL: "ftp://gw.example.com" })).toContain(
      "PUBLIC_URL: must be an http(s) URL",
    );
    expect(AuthEnv.parse({ ...authBase, PUBLIC_URL: "https://gw.example.com/" }).PUBLIC_URL).toBe(
      "https://gw.example.com",
    );
    expect(McpEnv.parse({ ...mcpBase, PUBLIC_URL: "http://localhost:8000/" }).PUBLIC_URL).toBe("http://localhost:8000");
  });
});

describe("the internal-call and secrets-at-rest keys are required where they are read", () => {
  const catalogBase = { DATABASE_URL: base.DATABASE_URL, SERVICE_SECRET, SECRETS_KEY: adminBase.SECRETS_KEY };
  it.each([
    ["catalog", CatalogEnv, catalogBase, ["SERVICE_SECRET", "SECRETS_KEY"]],
    ["mcp", McpEnv, mcpBase, ["SERVICE_SECRET"]],
    ["admin", AdminEnv, adminBase, ["SERVICE_SECRET", "SECRETS_KEY"]],
  ] as const)("%s: each missing or short one is named", (_name, schema, vars, names) => {
    expect(refusal(schema, vars)).toBeNull();
    for (const name of names) {
      const { [name]: _, ...without } = vars as Record<string, string>;
      expect(refusal(schema, without)).toContain(`${name}:`);
      expect(refusal(schema, { ...vars, [name]: "short" })).toContain(`${name}: must be at least 32 characters`);
    }
  });
  it("SECRETS_KEY_PREVIOUS: a comma-separated list of keys, each long enough", () => {
    expect(
      CatalogEnv.parse({ ...catalogBase, SECRETS_KEY_PREVIOUS: `${"a".repeat(32)}, ${"b".repeat(40)}` })
        .SECRETS_KEY_PREVIOUS,
    ).toEqual(["a".repeat(32), "b".repeat(40)]);
    expect(CatalogEnv.parse(catalogBase).SECRETS_KEY_PREVIOUS).toEqual([]);
    expect(refusal(CatalogEnv, { ...catalogBase, SECRETS_KEY_PREVIOUS: `${"a".repeat(32)},short` })).toContain(
      "SECRETS_KEY_PREVIOUS",
    );
  });
});

describe("auth settings that would do nothing stop the start", () => {
  it("SECRETS_KEY missing: named (the auth worker seals users' upstream tokens)", () => {
    expect(refusal(AuthEnv, base)).toMatch(/SECRETS_KEY/);
  });

  it.each([
    [
      "OIDC_ISSUER without OIDC_CLIENT_ID",
      { OIDC_ISSUER: "https://idp.example.com" },
      /^invalid worker configuration: OIDC_ISSUER: is set without OIDC_CLIENT_ID: set OIDC_CLIENT_ID/,
    ],
    ["OIDC_CLIENT_ID without OIDC_ISSUER", { OIDC_CLIENT_ID: "gw" }, /OIDC_CLIENT_ID: is set without OIDC_ISSUER/],
    [
      "OIDC_ALGORITHMS in lower case",
      { OIDC_ISSUER: "https://idp.example.com", OIDC_CLIENT_ID: "gw", OIDC_ALGORITHMS: "rs256" },
      /OIDC_ALGORITHMS: names rs256: use exact JOSE names from RS256/,
    ],
    [
      "OIDC_ALGORITHMS that filter to nothing (HMAC, none)",
      { OIDC_ISSUER: "https://idp.example.com", OIDC_CLIENT_ID: "gw", OIDC_ALGORITHMS: "HS256,none" },
      /OIDC_ALGORITHMS: names HS256, none: .*none and HS\* are never accepted/,
    ],
    [
      "OIDC_ADMIN_AUDIENCE shared with OIDC_AUDIENCE",
      { OIDC_AUDIENCE: "api://gw", OIDC_ADMIN_AUDIENCE: "api://gw" },
      /OIDC_ADMIN_AUDIENCE: shares api:\/\/gw with the \/mcp audiences/,
    ],
    [
      "OIDC_AUDIENCE naming the admin audience",
      { OIDC_AUDIENCE: "https://gw.example.com/admin" },
      /OIDC_ADMIN_AUDIENCE: shares https:\/\/gw.example.com\/admin/,
    ],
    [
      "WEBUI_SECRET_KEY without OWUI_URL",
      { WEBUI_SECRET_KEY: "owui-secret-0123456789" },
      /WEBUI_SECRET_KEY: is set without OWUI_URL: .* set OWUI_URL or unset WEBUI_SECRET_KEY/,
    ],
    [
      "OWUI_FORWARDED_HEADERS=1 without OWUI_SERVICE_KEY",
      { OWUI_FORWARDED_HEADERS: "1" },
      /OWUI_FORWARDED_HEADERS: is 1 without OWUI_SERVICE_KEY: .*set OWUI_SERVICE_KEY/,
    ],
    [
      "OWUI_SERVICE_KEY without OWUI_FORWARDED_HEADERS",
      { OWUI_SERVICE_KEY: "svc-0123456789abcdef0123456789" },
      /OWUI_SERVICE_KEY: is set without OWUI_FORWARDED_HEADERS=1/,
    ],
    [
      "OWUI_SERVICE_KEY starting with mcpgw_",
      { OWUI_FORWARDED_HEADERS: "1", OWUI_SERVICE_KEY: "mcpgw_0123456789abcdef0123456789" },
      /OWUI_SERVICE_KEY: starts with mcpgw_, .*choose a key without that prefix/,
    ],
    [
      "OWUI_FORWARDED_HEADERS neither 1 nor 0",
      { OWUI_FORWARDED_HEADERS: "maybe", OWUI_SERVICE_KEY: "svc-0123456789abcdef0123456789" },
      /OWUI_FORWARDED_HEADERS: must be 1 or 0/,
    ],
    [
      "OIDC_REQUIRE_EMAIL_VERIFIED neither 1 nor 0",
      { OIDC_REQUIRE_EMAIL_VERIFIED: "sometimes" },
      /OIDC_REQUIRE_EMAIL_VERIFIED: must be 1 or 0/,
    ],
  ])("%s", (_label, vars, message) => {
    expect(refusal(AuthEnv, { ...authBase, ...vars })).toMatch(message);
  });

  it("the working combinations are accepted", () => {
    expect(
      refusal(AuthEnv, {
        ...authBase,
        OIDC_ISSUER: "https://idp.example.com",
        OIDC_CLIENT_ID: "gw",
        OIDC_ALGORITHMS: "RS256,ES256",
      }),
    ).toBeNull();
    expect(
      refusal(AuthEnv, { ...authBase, WEBUI_SECRET_KEY: "owui-secret-0123456789", OWUI_URL: "http://open-webui:8080" }),
    ).toBeNull();
    expect(
      refusal(AuthEnv, {
        ...authBase,
        OWUI_FORWARDED_HEADERS: "1",
        OWUI_SERVICE_KEY: "svc-0123456789abcdef0123456789",
      }),
    ).toBeNull();
    expect(
      refusal(AuthEnv, { ...authBase, OIDC_AUDIENCE: "api://gw", OIDC_ADMIN_AUDIENCE: "api://gw-admin" }),
    ).toBeNull();
  });
});

describe("ADMIN_API_KEY: any printable string of 16-200 characters, as given", () => {
  it.each([
    "mcpgw_abc_0123456789abcdef",
    "correct horse battery staple 42!",
    "p@ss:w0rd/with;punctuation~",
    "x".repeat(16),
    "y".repeat(200),
  ])("accepts %s", (key) => {
    expect(AdminApiKey.safeParse(key).success).toBe(true);
  });
  it.each([
    "short-key-15chr",
    "z".repeat(201),
    " leading-space-key-0123",
    "trailing-space-key-0123 ",
    "tab\tinside-the-key-0123",
    "non-ascii-key-é-0123456",
    "newline\nin-the-key-0123",
  ])("refuses %j", (key) => {
    const r = AdminApiKey.safeParse(key);
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.message).toContain("16-200 printable ASCII characters");
  });
});
