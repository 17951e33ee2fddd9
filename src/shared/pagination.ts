import type { PaginatedResponse } from '@workflow/world';
import { worldErrors } from '../errors.js';

/**
 * Keyset pagination, for storage's lists and the streamer's getStreamChunks. Cursors are opaque
 * to callers: `<kind>.<base64url of the key>`, where the key is the numeric id the list is
 * ordered by (an events.id, or a chunk index), so a cursor from another list is refused with a
 * 400 instead of silently returning the wrong page.
 */
const MAX_LIMIT = 1000;

export function clampLimit(limit: number | undefined, fallback: number): number {
  if (limit === undefined || !Number.isFinite(limit)) return fallback;
  return Math.min(Math.max(Math.trunc(limit), 1), MAX_LIMIT);
}

export function encodeCursor(kind: string, key: string): string {
  return `${kind}.${Buffer.from(key).toString('base64url')}`;
}

function decodeCursor(kind: string, cursor: string | undefined | null): string | undefined {
  if (cursor === undefined || cursor === null || cursor === '') return undefined;
  const prefix = `${kind}.`;
  if (typeof cursor !== 'string' || !cursor.startsWith(prefix)) {
    throw worldErrors.badRequest(`invalid cursor for this list: ${JSON.stringify(String(cursor).slice(0, 60))}`);
  }
  const key = Buffer.from(cursor.slice(prefix.length), 'base64url').toString();
  if (!key) throw worldErrors.badRequest('invalid cursor: empty key');
  return key;
}

/** Numeric keys (bigint ids) must be digits; anything else is a forged cursor. */
export function decodeNumericCursor(kind: string, cursor: string | undefined | null): string | undefined {
  const key = decodeCursor(kind, cursor);
  if (key !== undefined && !/^\d{1,19}$/.test(key)) throw worldErrors.badRequest('invalid cursor');
  return key;
}

/**
 * A list call's keyset: how many rows to return, the key to continue after (from the cursor),
 * the sort order and the comparison that continues it.
 */
export function keysetOf(
  pagination: { limit?: number; cursor?: string | null; sortOrder?: 'asc' | 'desc' } | undefined,
  kind: string,
  defaultLimit: number,
  defaultOrder: 'asc' | 'desc',
) {
  const order = pagination?.sortOrder ?? defaultOrder;
  return {
    limit: clampLimit(pagination?.limit, defaultLimit),
    after: decodeNumericCursor(kind, pagination?.cursor),
    order,
    past: order === 'asc' ? ('>' as const) : ('<' as const),
  };
}

/**
 * Builds the page from `limit + 1` rows: the extra row answers "is there more?" without a
 * count. The cursor of the last page still points after its last item (the runtime resumes
 * from it), and is null only for an empty page.
 */
export function toPage<R, T>(
  rows: R[],
  limit: number,
  kind: string,
  keyOf: (row: R) => string,
  map: (row: R) => T,
): PaginatedResponse<T> {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    data: page.map(map),
    cursor: last === undefined ? null : encodeCursor(kind, keyOf(last)),
    hasMore: rows.length > limit,
  };
}
