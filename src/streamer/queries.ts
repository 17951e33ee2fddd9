import type { Db } from '../db/client.js';
import { query } from '../db/statement.js';

/**
 * The streamer's read statements (tables: migrations/0003_streams.up.sql). Each is one statement, so
 * what it says about the stream (length, end) and the chunks it returns come from one snapshot.
 */
export interface StoredChunk {
  index: number;
  data: Uint8Array;
}

export interface StreamState {
  /** Data chunks stored: tailIndex + 1. */
  count: number;
  closed: boolean;
}

export interface Page extends StreamState {
  chunks: StoredChunk[];
}

interface PageRow {
  next_idx: string;
  closed: boolean;
  idx: string | null;
  data: Buffer | null;
}

/**
 * Chunks with index >= `from`, in index order: at most `limit` of them and, when `maxBytes` is
 * given, no more than fit in it (but always at least one, however large). An unknown stream
 * reads as an open, empty one.
 */
export async function fetchPage(
  db: Db,
  name: string,
  from: number,
  limit: number,
  maxBytes: number | null,
): Promise<Page> {
  // The running byte total stops the page early without reading rows past it: the window is
  // computed over the index scan as rows stream out of it, under the LIMIT.
  const rows = await query<PageRow>(
    db,
    `select s.next_idx, s.closed_at is not null as closed, c.idx, c.data
       from ${db.ident}.streams s
       left join (
         select idx, data from (
           select idx, data, sum(octet_length(data)) over (order by idx) - octet_length(data) as bytes_before
             from ${db.ident}.stream_chunks
            where stream_name = $1 and idx >= $2
            order by idx
            limit $3) p
          where $4::bigint is null or bytes_before < $4::bigint) c on true
      where s.stream_name = $1
      order by c.idx`,
    [name, from, limit, maxBytes],
  );
  const first = rows[0];
  if (!first) return { count: 0, closed: false, chunks: [] };
  const chunks: StoredChunk[] = [];
  for (const row of rows) {
    if (row.idx !== null && row.data !== null) chunks.push({ index: Number(row.idx), data: ownBytes(row.data) });
  }
  return { count: Number(first.next_idx), closed: first.closed, chunks };
}

export async function fetchState(db: Db, name: string): Promise<StreamState> {
  const [row] = await query<{ next_idx: string; closed: boolean }>(
    db,
    `select next_idx, closed_at is not null as closed from ${db.ident}.streams where stream_name = $1`,
    [name],
  );
  return row ? { count: Number(row.next_idx), closed: row.closed } : { count: 0, closed: false };
}

export async function fetchNamesByRun(db: Db, runId: string): Promise<string[]> {
  const rows = await query<{ stream_name: string }>(
    db,
    `select stream_name from ${db.ident}.streams where run_id = $1 order by stream_name`,
    [runId],
  );
  return rows.map((r) => r.stream_name);
}

/**
 * A Uint8Array that owns its whole ArrayBuffer. Small Buffers from the driver are views into a
 * shared 8 KiB pool: a consumer that transfers the buffer (a `type: 'bytes'` stream does, as
 * the runtime's reader is) would detach the pool, and a retained view would pin it.
 */
function ownBytes(buf: Buffer): Uint8Array {
  if (buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength) {
    return new Uint8Array(buf.buffer, 0, buf.byteLength);
  }
  return new Uint8Array(buf);
}
