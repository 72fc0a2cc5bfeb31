/**
 * Local secrets: taken from the environment when set, else generated once and kept in
 * `.data/secrets.json` (mode 600) so sessions and cookies survive a restart.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { randomToken } from "../../shared/crypto";
import type { Sql } from "../../shared/db";
import { resealSecrets } from "../../shared/repos/secrets.repo";
import { keyRing, SecretsError, SecretsKey, SecretsKeyList, type KeyRing } from "../../shared/secrets";
import { ROOT } from "./workers";

/**
 * IDENTITY_SECRET, SESSION_SECRET, COOKIE_SECRET: the identity assertion, MCP session tokens and
 * browser cookies; SERVICE_SECRET: the service assertions between workers; SECRETS_KEY: seals
 * the secrets stored in Postgres (shared/secrets.ts) - losing it loses the stored upstream headers.
 */
export const SECRET_NAMES = [
  "IDENTITY_SECRET",
  "SESSION_SECRET",
  "COOKIE_SECRET",
  "SERVICE_SECRET",
  "SECRETS_KEY",
] as const;

/** Reads the stored secrets without creating anything (tools that must not invent a key). */
export function storedSecrets(
  file = resolve(ROOT, ".data/secrets.json"),
): Partial<Record<(typeof SECRET_NAMES)[number], string>> {
  return existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : {};
}

export function localSecrets(
  file = resolve(ROOT, ".data/secrets.json"),
): Record<(typeof SECRET_NAMES)[number], string> {
  const stored: Record<string, string> = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : {};
  let changed = false;
  const out = {} as Record<(typeof SECRET_NAMES)[number], string>;
  for (const name of SECRET_NAMES) {
    const fromEnv = process.env[name];
    if (fromEnv) out[name] = fromEnv;
    else {
      if (!stored[name]) {
        stored[name] = randomToken(32);
        changed = true;
      }
      out[name] = stored[name]!;
    }
  }
  if (changed) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(stored, null, 2), { mode: 0o600 });
  }
  return out;
}

/** The key ring of SECRETS_KEY and SECRETS_KEY_PREVIOUS (comma-separated); throws {@link SecretsError} naming the variable to fix. */
export async function secretsKeyRing(current: string | undefined, previous = ""): Promise<KeyRing> {
  const key = SecretsKey.safeParse(current ?? "");
  if (!key.success)
    throw new SecretsError(
      `SECRETS_KEY ${current ? key.error.issues[0]?.message : "must be set (openssl rand -base64 48)"}`,
    );
  const list = SecretsKeyList.safeParse(previous);
  if (!list.success) throw new SecretsError(`SECRETS_KEY_PREVIOUS: ${list.error.issues[0]?.message}`);
  return keyRing({ SECRETS_KEY: key.data, SECRETS_KEY_PREVIOUS: list.data });
}

/**
 * The start-up step of secrets at rest (`npm start`, the compose `migrate` service): every stored
 * secret sealed under `current` (SECRETS_KEY) - plaintext values sealed, values under a key of
 * `previous` (SECRETS_KEY_PREVIOUS, comma-separated) re-sealed - in one transaction. Returns
 * what it did, as log lines. Throws {@link SecretsError} with the variable to fix: a key too
 * short, or a stored secret sealed by a key neither variable holds (nothing is written then).
 */
export async function sealStoredSecrets(sql: Sql, current: string | undefined, previous = ""): Promise<string[]> {
  const ring = await secretsKeyRing(current, previous);
  let report;
  try {
    report = await resealSecrets(sql, ring);
  } catch (err) {
    if (err instanceof SecretsError)
      throw new SecretsError(`${err.message}; put the key that sealed them in SECRETS_KEY_PREVIOUS`);
    throw err;
  }
  const lines: string[] = [];
  for (const [store, r] of Object.entries(report)) {
    if (r.sealed || r.resealed)
      lines.push(
        `secrets at rest: ${store}: ${r.sealed} plaintext value(s) sealed, ${r.resealed} re-sealed under key ${ring.currentId}`,
      );
  }
  lines.push(
    `secrets at rest: every stored secret is sealed under key ${ring.currentId}${ring.ids.length > 1 ? ` (SECRETS_KEY_PREVIOUS can be removed now)` : ""}`,
  );
  return lines;
}
