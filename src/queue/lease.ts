import type { Db } from '../db/client.js';
import { pgArray } from '../db/arrays.js';
import { QUEUE_STATEMENT_DEADLINE_MS, withinDeadline } from '../db/deadline.js';
import { toClaimed, type ClaimedMessage, type ClaimedRow, type ClaimOptions } from './claim.js';
import type { SentMessage } from './outbox.js';

/**
 * Writes of a delivery in progress, each fenced on (message id, fence): a worker whose lease
 * expired and was claimed by another worker (a longer GC pause, a network partition) changes
 * nothing, and learns it from the result.
 */
export interface Lease {
  id: string;
  fence: string;
}

export type FinishOutcome = 'done' | 'retry' | 'reschedule' | 'release' | 'dead';

/**
 * Extends the leases (and the run leases of workflow messages) still held. Returns the ids
 * whose message lease is lost, and the ids whose message lease held but whose run lease was
 * taken (the run's flow may now execute twice: only after the heartbeat stalled a whole lease).
 */
export async function renewLeases(
  db: Db,
  leases: Lease[],
  leaseMs: number,
): Promise<{ lost: string[]; runLeaseLost: string[] }> {
  if (leases.length === 0) return { lost: [], runLeaseLost: [] };
  const s = db.ident;
  const rows = await withinDeadline(
    db.sql.unsafe<{ id: string; run_lease_lost: boolean }[]>(
      `with renewed as (
         update ${s}.messages m
            set run_at = now() + $3 * interval '1 millisecond'
           from unnest($1::text[], $2::bigint[]) as h(id, fence)
          where m.id = h.id and m.fence = h.fence and m.state = 'leased'
         returning m.id, m.kind, m.run_id
       ),
       runs as (
         update ${s}.run_leases l
            set expires_at = now() + $3 * interval '1 millisecond'
           from renewed r
          where l.run_id = r.run_id and l.message_id = r.id
         returning l.message_id
       )
       select r.id, (r.kind = 'workflow' and r.run_id is not null
                     and not exists (select 1 from runs where runs.message_id = r.id)) as run_lease_lost
         from renewed r`,
      [pgArray(leases.map((l) => l.id)), pgArray(leases.map((l) => l.fence)), leaseMs] as never[],
      { prepare: db.config.prepare },
    ),
    QUEUE_STATEMENT_DEADLINE_MS,
    'renewing leases',
  );
  const held = new Set(rows.map((r) => r.id));
  return {
    lost: leases.filter((l) => !held.has(l.id)).map((l) => l.id),
    runLeaseLost: rows.filter((r) => r.run_lease_lost).map((r) => r.id),
  };
}

/**
 * Ends a delivery with one statement (complete_delivery in
 * migrations/0005_delivery_outbox.up.sql): records `outcome`, enqueues what the handler sent to
 * its own run (unless the lease was lost), and claims up to `claim.limit` messages for the
 * worker's free slots. `finished` is 'lost' when the lease was lost (nothing recorded), 'wake'
 * when a message became claimable that this claim did not take, else 'ok'.
 */
export async function completeDelivery(
  db: Db,
  lease: Lease,
  outcome: FinishOutcome,
  opts: { delayMs?: number; error?: string; sent?: SentMessage[]; claim?: ClaimOptions } = {},
): Promise<{ finished: 'ok' | 'wake' | 'lost'; claimed: ClaimedMessage[] }> {
  const sent = opts.sent ?? [];
  const claim = opts.claim ?? { limit: 0, owner: '', leaseMs: 0, kinds: [], maxEvents: 0 };
  const rows = await withinDeadline(
    db.sql.unsafe<(ClaimedRow & { finished: 'ok' | 'wake' | 'lost' | null })[]>(
      `select * from ${db.ident}.complete_delivery($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)`,
      [
        lease.id,
        lease.fence,
        outcome,
        Math.max(0, Math.round(opts.delayMs ?? 0)),
        opts.error ?? null,
        db.config.queueIdempotencyWindowMs > 0,
        pgArray(sent.map((s) => s.id)),
        pgArray(sent.map((s) => s.message.queueName)),
        pgArray(sent.map((s) => s.message.kind)),
        pgArray(sent.map((s) => s.message.runId)),
        pgArray(sent.map((s) => s.message.payload.toString('base64'))),
        pgArray(sent.map((s) => (s.message.headers ? JSON.stringify(s.message.headers) : null))),
        pgArray(sent.map((s) => s.message.idempotencyKey)),
        pgArray(sent.map((s) => s.message.delayMs)),
        db.config.queueIdempotencyWindowMs,
        claim.limit,
        claim.leaseMs,
        pgArray(claim.kinds),
        claim.owner,
        claim.maxEvents,
      ] as never[],
      { prepare: db.config.prepare },
    ),
    QUEUE_STATEMENT_DEADLINE_MS,
    'recording a delivery',
  );
  const status = rows.find((r) => r.finished !== null);
  return { finished: status?.finished ?? 'lost', claimed: toClaimed(rows.filter((r) => r.finished === null)) };
}
