/**
 * Auth events in the audit log (kind `auth`): sign-ins and sign-outs (written by the login
 * routes with their own statements) and refused credentials (a bearer token that identifies
 * nobody), never the credential itself: only what kind it looked like, the path (no query) and
 * the client address the edge forwarded.
 *
 * Refused credentials are bounded so a flood of bad keys cannot fill the table: each isolate
 * tries at most {@link REFUSED_PER_MINUTE} writes a minute, and the insert itself skips when that
 * many are recorded in the last minute across replicas (audit.repo insertRefusedCredential). The
 * next row written carries how many this isolate left out (`detail.suppressed`).
 */
import { log } from "../../../shared/log";
import type { AuthDb } from "./db";

/** Most refused credentials recorded per minute (per isolate, and across replicas). */
export const REFUSED_PER_MINUTE = 20;

let windowStart = 0;
let tried = 0;
let suppressed = 0;

/** What a token looks like, without any of it: `api key`, `jwt` or `other`. */
export function credentialKind(token: string): "api key" | "jwt" | "other" {
  if (token.startsWith("mcpgw_")) return "api key";
  if (/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)) return "jwt";
  return "other";
}

/** The first address of X-Forwarded-For (the edge sets it), at most 64 characters. */
function clientAddress(headers: Headers): string | undefined {
  const f = headers.get("x-forwarded-for")?.split(",")[0]?.trim();
  return f ? f.slice(0, 64) : undefined;
}

/**
 * Records a refused bearer credential (see the module header for the bound). Resolves when
 * written or skipped; never throws (hand it to waitUntil).
 */
export async function recordRefusedCredential(
  db: AuthDb,
  token: string,
  path: string,
  headers: Headers,
  now = Date.now(),
): Promise<void> {
  if (now - windowStart >= 60_000) {
    windowStart = now;
    tried = 0;
  }
  if (tried >= REFUSED_PER_MINUTE) {
    suppressed++;
    return;
  }
  tried++;
  const left = suppressed;
  suppressed = 0;
  const detail = {
    credential: credentialKind(token),
    path: path.split("?")[0]!.slice(0, 200),
    ...(clientAddress(headers) ? { client: clientAddress(headers) } : {}),
    ...(left ? { suppressed: left } : {}),
  };
  try {
    const written = await db.run(
      "insertRefusedCredential",
      { actor: "(unknown)", action: "credential.refused", outcome: "refused", detail },
      REFUSED_PER_MINUTE,
    );
    if (!written) suppressed += 1 + left;
  } catch (err) {
    log.warn("audit of a refused credential failed", { message: String((err as Error)?.message ?? err) });
  }
}
