/** Cursor pagination of list results: opaque cursors that encode the next offset. */

/**
 * One page of `items` from `cursor` (undefined = first page). Returns null for a cursor the
 * gateway did not issue (the caller answers -32602).
 */
export function listPage<T>(items: T[], cursor: unknown, size: number): { items: T[]; nextCursor?: string } | null {
  let offset = 0;
  if (cursor !== undefined && cursor !== null) {
    if (typeof cursor !== "string") return null;
    const m = /^o(\d{1,9})$/.exec(safeAtob(cursor) ?? "");
    if (!m) return null;
    offset = Number(m[1]);
    if (offset > items.length) return null;
  }
  const page = items.slice(offset, offset + size);
  const next = offset + size;
  return next < items.length ? { items: page, nextCursor: btoa(`o${next}`) } : { items: page };
}

function safeAtob(s: string): string | null {
  try {
    return atob(s);
  } catch {
    return null;
  }
}
