import type { QueueKind } from '@workflow/world';
import type { Db } from '../db/client.js';
import { pgArray } from '../db/arrays.js';
import { queueDeadline } from '../db/deadline.js';
import { callFunction, query } from '../db/statement.js';
import { toRunStart, type RunStart, type RunStartRow } from '../shared/run-start.js';

/**
 * Claiming: leasing due messages to this worker (claim_messages and claim_deliveries in
 * migrations/definitions/queue.sql). A finishing delivery claims through complete_delivery
 * instead (complete.ts); this serves wake-ups and polls.
 */

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
  /** When the message fell due (its delay, retry or reschedule ended, or its lease expired). */
  dueAt: Date | null;
  /** A workflow message of a running run: run_started's answer, read by the claim. */
  runStart?: RunStart;
}

/**
 * A row of claim_deliveries (and of complete_delivery, which returns the same rows): a claimed
 * message (row_kind 'message'), or one of its run's rows ('run', 'event') that follow it.
 */
export type ClaimRow = Omit<RunStartRow, 'row_kind'> & {
  row_kind: 'message' | RunStartRow['row_kind'];
  id: string | null;
  queue_name: string | null;
  kind: QueueKind | null;
  run_id: string | null;
  payload: Uint8Array | null;
  headers: Record<string, string> | null;
  attempt: number | null;
  fence: string | null;
  due_at: Date | null;
};

/** The claimed messages of claim_deliveries' rows, each with its run's rows. */
export function toClaimed(rows: readonly ClaimRow[]): ClaimedMessage[] {
  const messages: ClaimedMessage[] = [];
  const runRows = new Map<ClaimedMessage, RunStartRow[]>();
  for (const row of rows) {
    if (row.row_kind === 'message') {
      messages.push({
        id: row.id as string,
        queueName: row.queue_name as string,
        kind: row.kind as QueueKind,
        runId: row.run_id,
        payload: row.payload as Uint8Array,
        headers: row.headers,
        attempt: row.attempt as number,
        fence: String(row.fence),
        dueAt: row.due_at,
      });
    } else {
      const owner = messages.at(-1);
      if (!owner) throw new Error('[workflow-world-postgres] claim returned run rows before their message');
      runRows.set(owner, [...(runRows.get(owner) ?? []), row as RunStartRow]);
    }
  }
  for (const [message, runStart] of runRows) message.runStart = toRunStart(runStart);
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

/** claim_deliveries' named arguments for `opts`; complete_delivery claims with the same ones. */
export const claimArguments = (opts: ClaimOptions) => ({
  p_lease_ms: opts.leaseMs,
  p_kinds: pgArray(opts.kinds),
  p_owner: opts.owner,
  p_max_events: opts.maxEvents,
});

/** Leases up to `limit` due messages, oldest due first, with their runs' workflow leases. */
export async function claimMessages(db: Db, opts: ClaimOptions): Promise<ClaimedMessage[]> {
  const rows = await callFunction<ClaimRow>(
    db,
    'claim_deliveries',
    { p_limit: opts.limit, ...claimArguments(opts) },
    { deadline: queueDeadline('claiming messages') },
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
  const [row] = await query<{ ms: number }>(db, nextDueSql(db.ident), [pgArray(kinds)], {
    deadline: queueDeadline('finding the next due message'),
  });
  return row ? Math.max(0, row.ms) : undefined;
}
