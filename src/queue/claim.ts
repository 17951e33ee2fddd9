import type { QueueKind } from '@workflow/world';
import type { Db } from '../db/client.js';
import { QUEUE_STATEMENT_DEADLINE_MS, withinDeadline } from '../db/deadline.js';

/** A message leased to this worker; `fence` must accompany every later write of the delivery. */
export interface ClaimedMessage {
  id: string;
  queueName: string;
  kind: QueueKind;
  runId: string | null;
  payload: Uint8Array;
  headers: Record<string, string> | null;
  attempt: number;
  fence: string;
}

/** A claimed row as complete_delivery and claim_messages return it. */
export interface ClaimedRow {
  id: string;
  queue_name: string;
  kind: QueueKind;
  run_id: string | null;
  payload: Uint8Array;
  headers: Record<string, string> | null;
  attempt: number;
  fence: string;
}

export const toClaimed = (r: ClaimedRow): ClaimedMessage => ({
  id: r.id,
  queueName: r.queue_name,
  kind: r.kind,
  runId: r.run_id,
  payload: r.payload,
  headers: r.headers,
  attempt: r.attempt,
  fence: String(r.fence),
});

export interface ClaimOptions {
  limit: number;
  owner: string;
  leaseMs: number;
  kinds: QueueKind[];
}

/**
 * Leases up to `limit` due messages, oldest due first, with their runs' workflow leases: see
 * claim_messages in migrations/0004_delivery_outbox.up.sql for the rules. A finishing delivery
 * claims through complete_delivery instead (lease.ts); this serves wake-ups and polls.
 */
export async function claimMessages(db: Db, opts: ClaimOptions): Promise<ClaimedMessage[]> {
  const rows = await withinDeadline(
    db.sql.unsafe<ClaimedRow[]>(
      `select * from ${db.ident}.claim_messages($1, $2, $3, $4)`,
      [opts.limit, opts.leaseMs, opts.kinds, opts.owner] as never[],
      { prepare: db.config.prepare },
    ),
    QUEUE_STATEMENT_DEADLINE_MS,
    'claiming messages',
  );
  return rows.map(toClaimed);
}

/**
 * Milliseconds until the earliest delayed message of `kinds` falls due, or undefined when none
 * is waiting; the worker sleeps that long (bounded by its poll interval). Database clock only,
 * so app servers with skewed clocks agree. Index: messages_ready_idx.
 */
export const nextDueSql = (s: string) =>
  `select least(ceil(extract(epoch from (run_at - now())) * 1000), 86400000)::int as ms
     from ${s}.messages
    where state = 'pending' and run_at > now() and kind = any($1::text[])
    order by run_at, id
    limit 1`;

export async function nextDueMs(db: Db, kinds: QueueKind[]): Promise<number | undefined> {
  const [row] = await withinDeadline(
    db.sql.unsafe<{ ms: number }[]>(nextDueSql(db.ident), [kinds] as never[], { prepare: db.config.prepare }),
    QUEUE_STATEMENT_DEADLINE_MS,
    'finding the next due message',
  );
  return row ? Math.max(0, row.ms) : undefined;
}
