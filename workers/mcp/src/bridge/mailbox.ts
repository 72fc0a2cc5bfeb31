/**
 * Mailboxes: how one request hands messages to another that may run later, or on another
 * replica. The bridge needs two kinds:
 * - a parked upstream exchange (a modern client got `input_required` while a session-era upstream
 *   still works on the call): the exchange's later messages are posted to its box, and the
 *   client's retry reads them;
 * - a waiting request (a session-era client was sent a server-to-client request for a modern
 *   upstream's `input_required`): the client's answers, which arrive as separate POSTs, are
 *   posted to its box.
 * Items always go to Postgres (shared/repos/mcp-bridge.repo.ts) so any replica reads them; in the
 * isolate that holds a box, items also go to memory and wake the reader at once. A reader never
 * waits on another request's I/O: it waits on a wake-up callback and a poll timer of its own.
 */
import { log } from "../../../../shared/log";
import type { McpDb } from "../db";

/** An item as stored: a unique id, so a reader that looks in memory and in Postgres takes it once. */
interface Item {
  n: string;
  v: unknown;
}

interface LocalBox {
  items: Item[];
  waiters: Set<() => void>;
}

/** Boxes held by this isolate. */
const local = new Map<string, LocalBox>();
const MAX_LOCAL_BOXES = 5_000;
/** How often a reader looks in Postgres for items posted on other replicas (ms). */
const POLL_MS = 200;

/** A new box id (random, unguessable). */
export function newBox(): string {
  return crypto.randomUUID();
}

/** Holds `box` in this isolate (its reader or writer runs here): posts here wake its reader without a poll. */
export function holdBox(box: string): void {
  if (local.has(box)) return;
  if (local.size >= MAX_LOCAL_BOXES) local.delete(local.keys().next().value!);
  local.set(box, { items: [], waiters: new Set() });
}

/** Lets go of a box held here. */
export function releaseBox(box: string): void {
  const b = local.get(box);
  local.delete(box);
  for (const w of b?.waiters ?? []) w();
}

/** Posts a value to a box: to memory when the box is held here (its reader wakes at once), and to Postgres for readers elsewhere. */
export async function post(db: McpDb, box: string, value: unknown): Promise<void> {
  const item: Item = { n: crypto.randomUUID(), v: value };
  const b = local.get(box);
  if (b) {
    b.items.push(item);
    for (const w of b.waiters) w();
  }
  await db.run("putMailbox", box, item);
}

/** Claims a box once (true for the first caller anywhere): a parked request's state is used once. */
export async function claim(db: McpDb, box: string): Promise<boolean> {
  return db.run("claimMailbox", box);
}

/**
 * Reads a box's values in order as they arrive, until `signal` aborts or `deadline` (epoch ms)
 * passes: from memory when the box is held here, and from Postgres (polled) for what other
 * replicas post; each item once.
 */
export async function* read(
  db: McpDb,
  box: string,
  opts: { signal: AbortSignal; deadline: number },
): AsyncGenerator<unknown> {
  const seen = new Set<string>();
  let taken = 0;
  let after = 0;
  while (!opts.signal.aborted && Date.now() < opts.deadline) {
    const here = local.get(box);
    let got = false;
    if (here) {
      while (taken < here.items.length) {
        const it = here.items[taken++]!;
        if (seen.has(it.n)) continue;
        seen.add(it.n);
        got = true;
        yield it.v;
      }
    }
    let rows: { id: number; item: unknown }[] = [];
    try {
      rows = await db.run("readMailbox", box, after);
    } catch (err) {
      log.warn("mailbox read failed", { message: String((err as Error)?.message ?? err) });
    }
    for (const r of rows) {
      after = r.id;
      const it = r.item as Item;
      if (!it || typeof it.n !== "string" || seen.has(it.n)) continue;
      seen.add(it.n);
      got = true;
      yield it.v;
    }
    if (got) continue;
    await new Promise<void>((resolve) => {
      const h = local.get(box);
      const done = () => {
        clearTimeout(timer);
        opts.signal.removeEventListener("abort", done);
        h?.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, Math.min(opts.deadline - Date.now(), POLL_MS)));
      opts.signal.addEventListener("abort", done);
      h?.waiters.add(done);
    });
  }
}
