// Secrets at rest (shared/secrets.ts) beyond the round trip: the key derivation and envelope
// pinned by known answers (a value sealed by this release must open after an upgrade), the
// canonical encoding only, key-length rules and their messages, and the key-ring memo.
import { describe, expect, it } from "vitest";
import {
  SECRETS_KEY_VARS,
  SecretsError,
  SecretsKey,
  SecretsKeyList,
  isSealed,
  keyId,
  keyRing,
  seal,
  sealedKeyId,
  unseal,
} from "../../shared/secrets";

const K = "kat-secrets-key-0123456789abcdefghijklmnop";
const CONTEXT = "servers.headers:fs:Authorization";
/** Sealed by this release under K for CONTEXT. */
const KAT = "mcpgw:v1:4e7fede34fec9b31:CxYIqIYsfJsaiJdA-yKq-dgF0_H378hDA78huaKkRfbhO7OkCUzfzA";
const ringOf = (current: string, previous: string[] = []) =>
  keyRing({ SECRETS_KEY: current, SECRETS_KEY_PREVIOUS: previous });

describe("secrets at rest: wire format", () => {
  it("derives the documented key id and opens a value sealed by this release", async () => {
    expect(await keyId(K)).toBe("4e7fede34fec9b31");
    const ring = await ringOf(K);
    expect(ring.currentId).toBe("4e7fede34fec9b31");
    expect(await unseal(ring, KAT, CONTEXT)).toBe("s3cret-value");
  });

  it("writes mcpgw:v1:<key id>:<base64url without padding>, and its keys cannot be exported", async () => {
    const ring = await ringOf(K);
    for (const plain of ["", "a", "ab", "abc", "abcd"]) {
      const v = await seal(ring, plain, CONTEXT);
      expect(v).toMatch(/^mcpgw:v1:4e7fede34fec9b31:[A-Za-z0-9_-]+$/);
      expect(await unseal(ring, v, CONTEXT)).toBe(plain);
    }
    expect(ring.keys.get(ring.currentId)!.extractable).toBe(false);
  });

  it("recognises sealed values and their key ids exactly", () => {
    expect(isSealed(KAT)).toBe(true);
    expect(isSealed("mcpgw:v1:")).toBe(true);
    expect(isSealed("Bearer mcpgw:v1:x")).toBe(false);
    expect(isSealed("")).toBe(false);
    expect(sealedKeyId(KAT)).toBe("4e7fede34fec9b31");
    expect(sealedKeyId("plain:v1:4e7fede34fec9b31:abc")).toBeNull();
    expect(sealedKeyId("mcpgw:v1:4e7fede34fec9b310:abc")).toBeNull();
    expect(sealedKeyId("mcpgw:v1:x4e7fede34fec9b31:abc")).toBeNull();
    expect(sealedKeyId("mcpgw:v1:4E7FEDE34FEC9B31:abc")).toBeNull();
  });

  it("opens only the canonical base64url spelling", async () => {
    const ring = await ringOf(K);
    const body = KAT.slice("mcpgw:v1:4e7fede34fec9b31:".length);
    expect(body).toMatch(/[-_]/);
    const head = "mcpgw:v1:4e7fede34fec9b31:";
    for (const bad of [
      head + body.replace(/-/g, "+").replace(/_/g, "/"),
      head + body + "=",
      head + " " + body,
      head + body + "\n",
      head + body.slice(0, 20) + " " + body.slice(20),
    ]) {
      await expect(unseal(ring, bad, CONTEXT)).rejects.toThrow("sealed value (key 4e7fede34fec9b31) is malformed");
    }
    await expect(unseal(ring, head + "A", CONTEXT)).rejects.toThrow(/is malformed/);
  });
});

describe("secrets at rest: keys", () => {
  it("takes keys of 32 characters or more, and refuses others with a message saying so", async () => {
    const k32 = "k".repeat(32);
    expect((await ringOf(k32)).ids).toHaveLength(1);
    expect(() => ringOf("k".repeat(31))).toThrow(
      new SecretsError("SECRETS_KEY and SECRETS_KEY_PREVIOUS keys must be at least 32 characters"),
    );
    expect(() => ringOf(K, ["short"])).toThrow(SecretsError);
    expect(() => keyRing({ SECRETS_KEY: undefined as never, SECRETS_KEY_PREVIOUS: [] })).toThrow(SecretsError);
    expect(() => keyRing({ SECRETS_KEY: K, SECRETS_KEY_PREVIOUS: [42 as never] })).toThrow(SecretsError);
  });

  it("validates the environment variables with messages naming the fix", () => {
    expect(SecretsKey.safeParse("k".repeat(32)).success).toBe(true);
    expect(SecretsKey.safeParse("k".repeat(200)).success).toBe(true);
    const short = SecretsKey.safeParse("k".repeat(31));
    expect(short.success).toBe(false);
    expect(short.error!.issues[0]!.message).toBe("must be at least 32 characters (openssl rand -base64 48)");
    expect(SecretsKeyList.parse(undefined)).toEqual([]);
    expect(SecretsKeyList.parse(` ${"a".repeat(32)} ,, ${"b".repeat(40)} `)).toEqual(["a".repeat(32), "b".repeat(40)]);
    const bad = SecretsKeyList.safeParse(`${"a".repeat(32)},short`);
    expect(bad.success).toBe(false);
    expect(bad.error!.issues[0]!.message).toBe("each key must be at least 32 characters");
    expect(Object.keys(SECRETS_KEY_VARS).sort()).toEqual(["SECRETS_KEY", "SECRETS_KEY_PREVIOUS"]);
    expect(SECRETS_KEY_VARS.SECRETS_KEY_PREVIOUS.parse("")).toEqual([]);
    expect(SECRETS_KEY_VARS.SECRETS_KEY.safeParse("short").success).toBe(false);
  });

  it("derives a ring once per set of keys, and never confuses two sets", async () => {
    const a = "a".repeat(32);
    const b = "b".repeat(32);
    expect(ringOf(a, [b])).toBe(ringOf(a, [b]));
    const split = await ringOf(a, [b]);
    const joined = await ringOf(a + b);
    expect(joined.currentId).not.toBe(split.currentId);
    expect(split.ids).toEqual([await keyId(a), await keyId(b)]);
    expect(joined.ids).toEqual([await keyId(a + b)]);
    // the current key listed again among the previous ones counts once
    expect((await ringOf(a, [a, b])).ids).toEqual(split.ids);
  });

  it("forgets its rings after 17 sets of keys (bounded memory)", async () => {
    const probe = "p".repeat(40);
    let n = 0;
    const fresh = () => ringOf(`fresh-${n++}-`.padEnd(40, "x"));
    /** New key sets added until the probe's ring is forgotten (the probe is then derived anew). */
    const untilForgotten = async () => {
      const p = ringOf(probe);
      for (let i = 1; i <= 40; i++) {
        await fresh();
        if (ringOf(probe) !== p) return i;
      }
      return -1;
    };
    await untilForgotten(); // aligns with a clear: the probe is now the second entry
    // the map is cleared when it holds more than 16 sets: 15 more fit, the 16th clears it
    expect(await untilForgotten()).toBe(16);
  });
});
