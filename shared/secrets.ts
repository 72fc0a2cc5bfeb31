/**
 * Secrets at rest: values sealed with AES-256-GCM (WebCrypto, the same in workerd and Node) under
 * a key ring from the environment, so a copy of the database or a backup holds no usable secret.
 *
 * - `SECRETS_KEY` (>= 32 characters, e.g. `openssl rand -base64 48`) seals new values and opens
 *   them; `SECRETS_KEY_PREVIOUS` (comma-separated, optional) lists earlier keys that only open.
 *   The AES key and an 8-byte key id are derived from each with HKDF-SHA256, so operators never
 *   name keys and a value always says which key sealed it.
 * - A sealed value is one string, fit for a text or jsonb column:
 *   `mcpgw:v1:<key id>:<base64url(12-byte IV ‖ ciphertext ‖ tag)>`.
 * - Every value is sealed for a context (AES-GCM additional data) naming where it lives, e.g.
 *   `servers.headers:<server id>:<header name>`: a sealed value copied into another row or field
 *   does not open.
 * - Rotation: the new key becomes `SECRETS_KEY`, the old one goes to `SECRETS_KEY_PREVIOUS`, the
 *   start-up step (shared/repos/secrets.repo.ts#resealSecrets) re-seals every stored value under
 *   the new key, then the old key can be removed. A value sealed by a key the ring lacks fails
 *   with {@link SecretsError} naming the key id, never silently.
 *
 * Used for upstream servers' headers (shared/repos/servers.repo.ts) and meant for any other
 * secret kept in Postgres (per-user upstream tokens among them).
 */
import { z } from "zod";

/** Prefix of every sealed value (version 1 of the envelope). */
export const SEALED_PREFIX = "mcpgw:v1:";

/** A value cannot be sealed or opened (unknown key, tampered or foreign value, bad context). */
export class SecretsError extends Error {}

/** A value sealed with a key this ring does not hold (another deployment's key, newer or retired). */
export class UnknownKeyError extends SecretsError {}

/** SECRETS_KEY: the key new secrets are sealed with. */
export const SecretsKey = z.string().min(32, "must be at least 32 characters (openssl rand -base64 48)");

/** SECRETS_KEY_PREVIOUS: earlier keys, comma-separated, that still open values (rotation). Default none. */
export const SecretsKeyList = z
  .string()
  .optional()
  .transform((s) =>
    (s ?? "")
      .split(",")
      .map((k) => k.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.string().min(32, "each key must be at least 32 characters")));

/** The two variables, spread into the Env schema of every worker that seals or opens secrets. */
export const SECRETS_KEY_VARS = {
  SECRETS_KEY: SecretsKey,
  SECRETS_KEY_PREVIOUS: SecretsKeyList,
};

/** The key material as the environment gives it: plain strings (they cross RPC boundaries). */
export interface SecretKeys {
  SECRETS_KEY: string;
  SECRETS_KEY_PREVIOUS: string[];
}

/** Keys that seal (the current one) and open (all of them), by id. */
export interface KeyRing {
  /** Id of the key new values are sealed with. */
  readonly currentId: string;
  /** Ids of every key in the ring, the current one first. */
  readonly ids: readonly string[];
  readonly keys: ReadonlyMap<string, CryptoKey>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function b64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromB64url(s: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) return null;
  try {
    const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

const hex = (bytes: ArrayBuffer) => [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");

/** The AES key and id derived from one configured key. */
async function deriveKey(secret: string): Promise<{ id: string; key: CryptoKey }> {
  const base = await crypto.subtle.importKey("raw", enc.encode(secret), "HKDF", false, ["deriveKey", "deriveBits"]);
  const salt = enc.encode("mcp-gateway secrets at rest");
  const id = hex(
    await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt, info: enc.encode("key id") }, base, 64),
  );
  const key = await crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt, info: enc.encode("aes-256-gcm") },
    base,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
  return { id, key };
}

const rings = new Map<string, Promise<KeyRing>>();

/**
 * The key ring of `SECRETS_KEY` (current) and `SECRETS_KEY_PREVIOUS`, derived once per isolate
 * and set of keys. Throws {@link SecretsError} for a key shorter than 32 characters.
 */
export function keyRing(keys: SecretKeys): Promise<KeyRing> {
  const all = [keys.SECRETS_KEY, ...keys.SECRETS_KEY_PREVIOUS.filter((k) => k !== keys.SECRETS_KEY)];
  for (const k of all)
    if (typeof k !== "string" || k.length < 32)
      throw new SecretsError("SECRETS_KEY and SECRETS_KEY_PREVIOUS keys must be at least 32 characters");
  const memo = all.join("\u0000");
  let ring = rings.get(memo);
  if (!ring) {
    ring = (async () => {
      const derived = await Promise.all(all.map(deriveKey));
      return {
        currentId: derived[0]!.id,
        ids: derived.map((d) => d.id),
        keys: new Map(derived.map((d) => [d.id, d.key])),
      };
    })();
    if (rings.size > 16) rings.clear();
    rings.set(memo, ring);
  }
  return ring;
}

/** The id a configured key gets (what sealed values and error messages show). */
export async function keyId(secret: string): Promise<string> {
  return (await deriveKey(secret)).id;
}

/** Whether `value` is a sealed value (else: a legacy plaintext value). */
export function isSealed(value: string): boolean {
  return value.startsWith(SEALED_PREFIX);
}

/** The id of the key that sealed `value`, or null when it is not a sealed value. */
export function sealedKeyId(value: string): string | null {
  if (!isSealed(value)) return null;
  const id = value.slice(SEALED_PREFIX.length).split(":", 1)[0]!;
  return /^[0-9a-f]{16}$/.test(id) ? id : null;
}

/** Seals `plaintext` for `context` under the ring's current key. */
export async function seal(ring: KeyRing, plaintext: string, context: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: enc.encode(context) },
      ring.keys.get(ring.currentId)!,
      enc.encode(plaintext),
    ),
  );
  const out = new Uint8Array(iv.length + ct.length);
  out.set(iv);
  out.set(ct, iv.length);
  return `${SEALED_PREFIX}${ring.currentId}:${b64url(out)}`;
}

/**
 * Opens a sealed value for `context`. Throws {@link SecretsError} when its key is not in the ring
 * (the message names the key id), or when it was changed, truncated or sealed for another context.
 */
export async function unseal(ring: KeyRing, value: string, context: string): Promise<string> {
  const id = sealedKeyId(value);
  if (!id) throw new SecretsError("not a sealed value");
  const key = ring.keys.get(id);
  if (!key)
    throw new UnknownKeyError(
      `sealed with key ${id}, which is neither SECRETS_KEY (${ring.currentId}) nor in SECRETS_KEY_PREVIOUS`,
    );
  const bytes = fromB64url(value.slice(SEALED_PREFIX.length + id.length + 1));
  if (!bytes || bytes.length < 12 + 16) throw new SecretsError(`sealed value (key ${id}) is malformed`);
  try {
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: bytes.slice(0, 12), additionalData: enc.encode(context) },
      key,
      bytes.slice(12),
    );
    return dec.decode(plain);
  } catch {
    throw new SecretsError(
      `sealed value (key ${id}) does not open: altered, or sealed for another place than ${context}`,
    );
  }
}

/** Whether `value` must be re-sealed to be under the ring's current key (plaintext, or an older key). */
export function needsReseal(ring: KeyRing, value: string): boolean {
  return sealedKeyId(value) !== ring.currentId;
}
