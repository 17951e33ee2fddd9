import type { QueueKind } from '@workflow/world';
import type { Db } from '../db/client.js';
import { pgArray } from '../db/arrays.js';
import { QUEUE_STATEMENT_DEADLINE_MS, withinDeadline } from '../db/deadline.js';
import type { LogRow, RunStartRows } from '../storage/append.js';

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
  /** A workflow message of a running run: run_started's answer, read by the claim. */
  runStart?: RunStartRows;
}

/**
 * A row of claim_deliveries (and complete_delivery): a claimed message (`id` set), or one of the
 * run_started rows that follow a claimed workflow message (`id` null).
 */
export type ClaimedRow = LogRow & {
  id: string | null;
  queue_name: string;
  kind: QueueKind;
  run_id: string;
  payload: Uint8Array;
  headers: Record<string, string> | null;
  attempt: number;
  fence: string;
};

/** The claimed messages of claim_deliveries' rows, each with its run's rows. */
export function toClaimed(rows: ClaimedRow[]): ClaimedMessage[] {
  const messages: ClaimedMessage[] = [];
  for (const r of rows) {
    if (r.id !== null) {
      messages.push({
        id: r.id,
        queueName: r.queue_name,
        kind: r.kind,
        runId: r.run_id,
        payload: r.payload,
        headers: r.headers,
        attempt: r.attempt,
        fence: String(r.fence),
      });
    } else {
      const m = messages[messages.length - 1]!;
      if (m.runStart) m.runStart.push(r);
      else m.runStart = [r];
    }
  }
  return messages;
}

export interface ClaimOptions {
  limit: number;
  owner: string;
  leaseMs: number;
  kinds: QueueKind[];
  /** The longest log to read with a claimed workflow message (0: none, e.g. HTTP delivery). */
  maxEvents: number;
}

/**
 * Leases up to `limit` due messages, oldest due first, with their runs' workflow leases: see
 * claim_messages and claim_deliveries in migrations/0005_delivery_outbox.up.sql. A finishing
 * delivery claims through complete_delivery instead (lease.ts); this serves wake-ups and polls.
 */
export async function claimMessages(db: Db, opts: ClaimOptions): Promise<ClaimedMessage[]> {
  const rows = await withinDeadline(
    db.sql.unsafe<ClaimedRow[]>(
      `select * from ${db.ident}.claim_deliveries($1, $2, $3, $4, $5)`,
      [opts.limit, opts.leaseMs, pgArray(opts.kinds), opts.owner, opts.maxEvents] as never[],
      { prepare: db.config.prepare },
    ),
    QUEUE_STATEMENT_DEADLINE_MS,
    'claiming messages',
  );
  return toClaimed(rows);
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
    db.sql.unsafe<{ ms: number }[]>(nextDueSql(db.ident), [pgArray(kinds)] as never[], { prepare: db.config.prepare }),
    QUEUE_STATEMENT_DEADLINE_MS,
    'finding the next due message',
  );
  return row ? Math.max(0, row.ms) : undefined;
}
