/**
 * Every secret the gateway keeps in Postgres, and the step that keeps them all sealed under the
 * current key (shared/secrets.ts): run before the workers serve, by `npm start`
 * (scripts/lib/stack.ts) and the compose `migrate` service (compose/migrate.ts).
 *
 * Secrets at rest today: `servers.headers` (one sealed value per header), users' upstream tokens
 * (`user_connections.secrets`) and OAuth client secrets (`servers.credentials`). Not secrets, or
 * stored only as hashes: API keys (`api_keys.key_hash`, SHA-256), used login states
 * (`auth_used_states.state_hash`), revoked browser session ids (the session itself is an
 * encrypted cookie), MCP session ids (encrypted tokens, the rows hold only their random id).
 * A new table with secrets adds its column to {@link STORES}.
 */
import type { Sql, TxSql } from "../db";
import { isSealed, needsReseal, seal, SecretsError, unseal, type KeyRing } from "../secrets";
import { clientSecretContext, connectionContext } from "../credentials";
import { openConnectionSecrets } from "./connections.repo";
import { openServerHeaders, sealServerHeaders } from "./servers.repo";

/** What {@link resealSecrets} did, per stored secret. */
export interface ResealReport {
  /** Values found in plaintext (written before encryption, or by hand) and sealed now. */
  sealed: number;
  /** Values under an older key, sealed again under the current one. */
  resealed: number;
  /** Values already under the current key. */
  current: number;
}

interface SecretStore {
  /** e.g. `servers.headers`. */
  name: string;
  /** Locks and reads the rows holding values (`FOR UPDATE`): key and stored values. */
  rows(tx: TxSql): Promise<{ key: string; values: Record<string, string> }[]>;
  /** Opens one row's values (legacy plaintext passes). */
  open(ring: KeyRing, key: string, values: Record<string, string>): Promise<Record<string, string>>;
  /** Seals one row's values under the current key and writes them. */
  write(tx: TxSql, ring: KeyRing, key: string, plain: Record<string, string>): Promise<void>;
  /** Ids of the keys that sealed the stored values. */
  keyIds(db: Sql | TxSql): Promise<string[]>;
}

const STORES: SecretStore[] = [
  {
    name: "servers.headers",
    async rows(tx) {
      const rows = await tx`SELECT id, headers FROM servers WHERE headers <> '{}'::jsonb ORDER BY id FOR UPDATE`;
      return rows.map((r) => ({ key: String(r.id), values: r.headers as Record<string, string> }));
    },
    open: (ring, id, values) => openServerHeaders(ring, id, values),
    async write(tx, ring, id, plain) {
      await tx`UPDATE servers SET headers = ${tx.json(await sealServerHeaders(ring, id, plain))} WHERE id = ${id}`;
    },
    async keyIds(db) {
      const rows =
        await db`SELECT DISTINCT split_part(h.v, ':', 3) AS kid FROM servers, jsonb_each_text(servers.headers) AS h(k, v) WHERE h.v LIKE 'mcpgw:v1:%'`;
      return rows.map((r) => String(r.kid));
    },
  },
  {
    name: "user_connections.secrets",
    async rows(tx) {
      const rows =
        await tx`SELECT user_email, server_id, secrets FROM user_connections ORDER BY user_email, server_id FOR UPDATE`;
      return rows.map((r) => ({
        key: `${String(r.user_email)}\u0000${String(r.server_id)}`,
        values: r.secrets as Record<string, string>,
      }));
    },
    open: (ring, key, values) => {
      const [email, server] = key.split("\u0000") as [string, string];
      return openConnectionSecrets(ring, email, server, values);
    },
    async write(tx, ring, key, plain) {
      const [email, server] = key.split("\u0000") as [string, string];
      const sealed: Record<string, string> = {};
      for (const [k, v] of Object.entries(plain))
        sealed[k] = await seal(ring, v, connectionContext(email, server, k as "access" | "refresh"));
      await tx`UPDATE user_connections SET secrets = ${tx.json(sealed)} WHERE user_email = ${email} AND server_id = ${server}`;
    },
    async keyIds(db) {
      const rows =
        await db`SELECT DISTINCT split_part(h.v, ':', 3) AS kid FROM user_connections, jsonb_each_text(user_connections.secrets) AS h(k, v) WHERE h.v LIKE 'mcpgw:v1:%'`;
      return rows.map((r) => String(r.kid));
    },
  },
  {
    name: "servers.credentials",
    async rows(tx) {
      const rows =
        await tx`SELECT id, credentials->'oauth'->>'clientSecret' AS secret FROM servers WHERE credentials->'oauth' ? 'clientSecret' ORDER BY id FOR UPDATE`;
      return rows.map((r) => ({ key: String(r.id), values: { clientSecret: String(r.secret) } }));
    },
    open: async (ring, id, values) => ({
      clientSecret: isSealed(values.clientSecret!)
        ? await unseal(ring, values.clientSecret!, clientSecretContext(id))
        : values.clientSecret!,
    }),
    async write(tx, ring, id, plain) {
      const sealed = await seal(ring, plain.clientSecret!, clientSecretContext(id));
      await tx`UPDATE servers SET credentials = jsonb_set(credentials, '{oauth,clientSecret}', to_jsonb(${sealed}::text)) WHERE id = ${id}`;
    },
    async keyIds(db) {
      const rows =
        await db`SELECT DISTINCT split_part(credentials->'oauth'->>'clientSecret', ':', 3) AS kid FROM servers WHERE credentials->'oauth'->>'clientSecret' LIKE 'mcpgw:v1:%'`;
      return rows.map((r) => String(r.kid));
    },
  },
];

/**
 * Seals every plaintext secret and re-seals every secret under an older key with the ring's
 * current key, in one transaction (all or nothing; concurrent runs wait for each other's row
 * locks and then find nothing to do). Re-sealing does not count as a change of the server:
 * `servers.updated_at` stays (migration 0009), so no upstream is re-listed for it.
 * Throws {@link SecretsError} naming the row and key id when a value was sealed by a key the ring
 * lacks (e.g. SECRETS_KEY_PREVIOUS emptied too early): nothing is written then.
 */
export async function resealSecrets(sql: Sql, ring: KeyRing): Promise<Record<string, ResealReport>> {
  return (await sql.begin(async (tx) => {
    // the servers_touch trigger leaves updated_at alone for this transaction's re-sealing
    await tx`SELECT set_config('mcpgw.reseal', 'on', true)`;
    const out: Record<string, ResealReport> = {};
    for (const store of STORES) {
      const report: ResealReport = { sealed: 0, resealed: 0, current: 0 };
      for (const row of await store.rows(tx)) {
        const values = Object.values(row.values);
        for (const v of values) {
          if (!needsReseal(ring, v)) report.current++;
          else if (isSealed(v)) report.resealed++;
          else report.sealed++;
        }
        if (values.every((v) => !needsReseal(ring, v))) continue;
        await store.write(tx, ring, row.key, await store.open(ring, row.key, row.values));
      }
      out[store.name] = report;
    }
    return out;
  })) as Record<string, ResealReport>;
}

/**
 * Ids of the keys that sealed stored secrets and that `ring` lacks (empty: the ring opens
 * everything stored). Tools that write secrets check it first, so a wrong SECRETS_KEY is
 * refused before anything is written under it.
 */
export async function unknownKeyIds(sql: Sql | TxSql, ring: KeyRing): Promise<string[]> {
  const ids = new Set((await Promise.all(STORES.map((s) => s.keyIds(sql)))).flat());
  return [...ids].filter((kid) => !ring.ids.includes(kid)).sort();
}

/** Throws {@link SecretsError} when stored secrets were sealed by keys the ring lacks. */
export async function assertKeysKnown(sql: Sql | TxSql, ring: KeyRing): Promise<void> {
  const unknown = await unknownKeyIds(sql, ring);
  if (unknown.length)
    throw new SecretsError(
      `stored secrets are sealed with key ${unknown.join(", ")}, which is neither SECRETS_KEY (${ring.currentId}) nor in SECRETS_KEY_PREVIOUS`,
    );
}
