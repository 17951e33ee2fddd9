import type { Db } from '../db/client.js';
import { pgArray } from '../db/arrays.js';
import { queueDeadline } from '../db/deadline.js';
import { callFunction } from '../db/statement.js';
import { claimArguments, toClaimed, type ClaimedMessage, type ClaimRow, type ClaimOptions } from './claim.js';
import type { SentMessage } from './outbox.js';

/**
 * Completing a delivery: one statement (complete_delivery in migrations/definitions/queue.sql)
 * records its outcome, fenced on (message id, fence), enqueues what the handler sent to its own
 * run, and claims the worker's next messages. A worker whose lease expired and was claimed by
 * another worker (a long GC pause, a network partition) changes nothing, and learns it from the
 * result.
 */
export interface Lease {
  id: string;
  fence: string;
}

/**
 * 'done' (deleted, or kept while its idempotency key must keep answering), 'retry' and
 * 'reschedule' (pending again after a delay; a reschedule is not a failure and restarts the
 * attempt count), 'release' (handed back unfinished at shutdown, the attempt not counted), 'dead'.
 */
export type FinishOutcome = 'done' | 'retry' | 'reschedule' | 'release' | 'dead';

/** 'lost': the lease was lost, nothing recorded; 'wake': a message became claimable that this claim did not take. */
export type Finished = 'ok' | 'wake' | 'lost';

/** complete_delivery's rows: claim_deliveries' rows, then the 'finished' row. */
type CompleteRow = (ClaimRow & { finished: null }) | { row_kind: 'finished'; finished: Finished };

const NO_CLAIM: ClaimOptions = { limit: 0, owner: '', leaseMs: 0, kinds: [], maxEvents: 0 };

export async function completeDelivery(
  db: Db,
  lease: Lease,
  outcome: FinishOutcome,
  opts: { delayMs?: number; error?: string; sent?: SentMessage[]; claim?: ClaimOptions } = {},
): Promise<{ finished: Finished; claimed: ClaimedMessage[] }> {
  const sent = opts.sent ?? [];
  const claim = opts.claim ?? NO_CLAIM;
  const rows = await callFunction<CompleteRow>(
    db,
    'complete_delivery',
    {
      p_id: lease.id,
      p_fence: lease.fence,
      p_outcome: outcome,
      p_delay_ms: Math.max(0, Math.round(opts.delayMs ?? 0)),
      p_error: opts.error ?? null,
      p_keep_done: db.config.queueIdempotencyWindowMs > 0,
      p_sent_ids: pgArray(sent.map((s) => s.id)),
      p_sent_queues: pgArray(sent.map((s) => s.message.queueName)),
      p_sent_kinds: pgArray(sent.map((s) => s.message.kind)),
      p_sent_runs: pgArray(sent.map((s) => s.message.runId)),
      p_sent_payloads: pgArray(sent.map((s) => s.message.payload.toString('base64'))),
      p_sent_headers: pgArray(sent.map((s) => (s.message.headers ? JSON.stringify(s.message.headers) : null))),
      p_sent_keys: pgArray(sent.map((s) => s.message.idempotencyKey)),
      p_sent_delays: pgArray(sent.map((s) => s.message.delayMs)),
      p_idempotency_window_ms: db.config.queueIdempotencyWindowMs,
      p_claim_limit: claim.limit,
      ...claimArguments(claim),
    },
    { deadline: queueDeadline('recording a delivery') },
  );
  let finished: Finished = 'lost';
  const claimRows: ClaimRow[] = [];
  for (const row of rows) {
    if (row.row_kind === 'finished') finished = row.finished;
    else claimRows.push(row);
  }
  return { finished, claimed: toClaimed(claimRows) };
}
