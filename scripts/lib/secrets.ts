/**
 * Local secrets: taken from the environment when set, else generated once and kept in
 * `.data/secrets.json` (mode 600) so sessions and cookies survive a restart.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { randomToken } from "../../shared/crypto";
import { ROOT } from "./workers";

export const SECRET_NAMES = ["IDENTITY_SECRET", "SESSION_SECRET", "COOKIE_SECRET"] as const;

export function localSecrets(file = resolve(ROOT, ".data/secrets.json")): Record<(typeof SECRET_NAMES)[number], string> {
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
