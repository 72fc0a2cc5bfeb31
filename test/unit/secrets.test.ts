/**
 * Secrets at rest (shared/secrets.ts) and the mcp worker's credentials lookup
 * (workers/mcp/src/upstream.credentials.ts), inside workerd: sealing and opening, key ids and
 * the key ring, what a tampered, foreign or unknown-key value does, and when the mcp worker asks
 * the catalog for a server's headers.
 */
import { afterEach, describe, expect, it } from "vitest";
import {
  isSealed,
  keyId,
  keyRing,
  needsReseal,
  seal,
  SEALED_PREFIX,
  sealedKeyId,
  SecretsError,
  SecretsKeyList,
  UnknownKeyError,
  unseal,
} from "../../shared/secrets";
import type { CatalogServer } from "../../workers/mcp/src/catalog.client";
import { clearCredentialsCache, credentialsStats, upstreamTarget } from "../../workers/mcp/src/upstream/credentials";
import { UpstreamFailure } from "../../workers/mcp/src/upstream/http";

const K1 = "first-key-of-the-ring-0123456789abcdef";
const K2 = "second-key-of-the-ring-0123456789abcdef";

describe("sealing", () => {
  it("round-trips, tags each value with its key id, and never seals the same way twice", async () => {
    const ring = await keyRing({ SECRETS_KEY: K1, SECRETS_KEY_PREVIOUS: [] });
    const a = await seal(ring, "Bearer ghp_secret", "servers.headers:gh:Authorization");
    const b = await seal(ring, "Bearer ghp_secret", "servers.headers:gh:Authorization");
    expect(a).not.toBe(b); // a fresh IV per value
    for (const v of [a, b]) {
      expect(v.startsWith(`${SEALED_PREFIX}${ring.currentId}:`)).toBe(true);
      expect(v).not.toContain("ghp_secret");
      expect(sealedKeyId(v)).toBe(ring.currentId);
      expect(isSealed(v)).toBe(true);
      expect(await unseal(ring, v, "servers.headers:gh:Authorization")).toBe("Bearer ghp_secret");
    }
    expect(ring.currentId).toMatch(/^[0-9a-f]{16}$/);
    expect(ring.currentId).toBe(await keyId(K1));
    expect(await keyId(K2)).not.toBe(ring.currentId);
    // unicode and the empty string survive
    for (const text of ["", "é 😀 \u202e", "x".repeat(8192)])
      expect(await unseal(ring, await seal(ring, text, "c"), "c")).toBe(text);
  });

  it("refuses a value for another context, altered, truncated, or sealed by a key the ring lacks", async () => {
    const ring = await keyRing({ SECRETS_KEY: K1, SECRETS_KEY_PREVIOUS: [] });
    const v = await seal(ring, "secret", "servers.headers:a:X-Key");
    await expect(unseal(ring, v, "servers.headers:b:X-Key")).rejects.toThrow(SecretsError);
    await expect(unseal(ring, v, "servers.headers:a:X-Other")).rejects.toThrow(SecretsError);
    const body = v.slice(v.lastIndexOf(":") + 1);
    const flipped = v.slice(0, v.length - body.length) + (body[0] === "A" ? "B" : "A") + body.slice(1);
    await expect(unseal(ring, flipped, "servers.headers:a:X-Key")).rejects.toThrow(/does not open/);
    await expect(unseal(ring, v.slice(0, v.length - 10), "servers.headers:a:X-Key")).rejects.toThrow(SecretsError);
    await expect(unseal(ring, `${SEALED_PREFIX}${ring.currentId}:abc`, "c")).rejects.toThrow(/malformed/);
    await expect(unseal(ring, "plain text", "c")).rejects.toThrow(/not a sealed value/);
    const other = await keyRing({ SECRETS_KEY: K2, SECRETS_KEY_PREVIOUS: [] });
    await expect(unseal(other, v, "servers.headers:a:X-Key")).rejects.toThrow(
      new RegExp(`sealed with key ${ring.currentId}, which is neither SECRETS_KEY \\(${other.currentId}\\)`),
    );
    // a key the ring does not hold is its own kind (another deployment's key); tampering is not
    await expect(unseal(other, v, "servers.headers:a:X-Key")).rejects.toThrow(UnknownKeyError);
    await expect(unseal(ring, flipped, "servers.headers:a:X-Key")).rejects.not.toThrow(UnknownKeyError);
  });

  it("opens with previous keys, seals with the current one, and says what needs re-sealing", async () => {
    const old = await keyRing({ SECRETS_KEY: K1, SECRETS_KEY_PREVIOUS: [] });
    const rotated = await keyRing({ SECRETS_KEY: K2, SECRETS_KEY_PREVIOUS: [K1] });
    expect(rotated.ids).toEqual([await keyId(K2), await keyId(K1)]);
    const v1 = await seal(old, "s", "c");
    expect(await unseal(rotated, v1, "c")).toBe("s");
    const v2 = await seal(rotated, "s", "c");
    expect(sealedKeyId(v2)).toBe(rotated.currentId);
    expect(needsReseal(rotated, v1)).toBe(true);
    expect(needsReseal(rotated, v2)).toBe(false);
    expect(needsReseal(rotated, "legacy plaintext")).toBe(true);
    await expect(unseal(old, v2, "c")).rejects.toThrow(SecretsError);
    // the current key repeated in the previous list counts once
    expect((await keyRing({ SECRETS_KEY: K2, SECRETS_KEY_PREVIOUS: [K2, K1] })).ids).toEqual(rotated.ids);
    expect(() => keyRing({ SECRETS_KEY: "short", SECRETS_KEY_PREVIOUS: [] })).toThrow(SecretsError);
    expect(SecretsKeyList.parse(` ${K1} , ${K2},`)).toEqual([K1, K2]);
    expect(SecretsKeyList.parse(undefined)).toEqual([]);
    expect(SecretsKeyList.safeParse("tooshort").success).toBe(false);
  });
});

/** A stand-in for the catalog binding: answers credentials from `answer`, records each path. */
function fakeCatalog(answer: () => Response) {
  const paths: string[] = [];
  return {
    paths,
    fetcher: { fetch: async (input: string) => (paths.push(new URL(input).pathname), answer()) } as unknown as Fetcher,
  };
}

const server = (credentials: CatalogServer["credentials"]): CatalogServer =>
  ({
    id: "vault",
    url: "http://up.test/mcp",
    transport: "streamable-http",
    credentials,
    tools: [],
    prompts: [],
    resources: [],
    resourceTemplates: [],
  }) as CatalogServer;

describe("the mcp worker's credentials lookup", () => {
  afterEach(() => clearCredentialsCache());

  it("asks nothing for a server without secrets; else fetches once per version and user", async () => {
    let version = "v1";
    let secret = "s1";
    const { fetcher, paths } = fakeCatalog(() =>
      Response.json({ server: "vault", version, headers: { "X-Key": secret } }),
    );
    expect(await upstreamTarget(fetcher, "a@x.test", server(null))).toEqual({
      id: "vault",
      url: "http://up.test/mcp",
      transport: "streamable-http",
      headers: {},
    });
    expect(paths).toEqual([]);
    const first = await upstreamTarget(fetcher, "a@x.test", server({ version: "v1" }));
    expect(first.headers).toEqual({ "X-Key": "s1" });
    expect(paths).toEqual(["/internal/credentials/a%40x.test/servers/vault"]);
    const before = credentialsStats.cached;
    expect((await upstreamTarget(fetcher, "A@X.test", server({ version: "v1" }))).headers).toEqual({ "X-Key": "s1" });
    expect(credentialsStats.cached).toBe(before + 1);
    expect(paths).toHaveLength(1);
    // another user asks for themselves
    await upstreamTarget(fetcher, "b@x.test", server({ version: "v1" }));
    expect(paths.at(-1)).toBe("/internal/credentials/b%40x.test/servers/vault");
    // the catalog names a new version: fetched again, the old headers are not used
    [version, secret] = ["v2", "s2"];
    expect((await upstreamTarget(fetcher, "a@x.test", server({ version: "v2" }))).headers).toEqual({ "X-Key": "s2" });
    expect(paths).toHaveLength(3);
    // the cached headers cannot be changed by a caller
    expect(() => ((first.headers as Record<string, string>)["X-Key"] = "x")).toThrow();
  });

  it("turns a refusal, an unreachable catalog or a malformed answer into an upstream failure naming no value", async () => {
    for (const answer of [
      () => Response.json({ error: "not_found" }, { status: 404 }),
      () => new Response("oops", { status: 500 }),
      () => Response.json({ version: "v1", headers: { "X-Key": 1 } }),
      () => new Response("not json"),
    ]) {
      const { fetcher } = fakeCatalog(answer);
      const err = await upstreamTarget(fetcher, "a@x.test", server({ version: "v1" })).catch((e) => e);
      expect(err).toBeInstanceOf(UpstreamFailure);
      expect(err.message).toMatch(/credentials of upstream vault are unavailable/);
    }
    const down = { fetch: async () => Promise.reject(new Error("connection refused")) } as unknown as Fetcher;
    await expect(upstreamTarget(down, "a@x.test", server({ version: "v1" }))).rejects.toThrow(/catalog unreachable/);
  });
});
