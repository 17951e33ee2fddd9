import type { Db } from '../db/client.js';
import { pgArray } from '../db/arrays.js';
import { queueDeadline } from '../db/deadline.js';
import { query } from '../db/statement.js';
import { describeError, log } from '../log.js';
import type { Lease } from './complete.js';

/**
 * Leases of deliveries in progress: one heartbeat statement extends all of them (and the run
 * leases of workflow messages) every lease/3, fenced on (message id, fence).
 */

/**
 * Extends the leases still held. Returns the ids whose message lease is lost, and the ids whose
 * message lease held but whose run lease was taken (the run's flow may now execute twice: only
 * after the heartbeat stalled a whole lease).
 */
export async function renewLeases(
  db: Db,
  leases: Lease[],
  leaseMs: number,
): Promise<{ lost: string[]; runLeaseLost: string[] }> {
  if (leases.length === 0) return { lost: [], runLeaseLost: [] };
  const s = db.ident;
  const rows = await query<{ id: string; run_lease_lost: boolean }>(
    db,
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
    [pgArray(leases.map((l) => l.id)), pgArray(leases.map((l) => l.fence)), leaseMs],
    { deadline: queueDeadline('renewing leases') },
  );
  const held = new Set(rows.map((r) => r.id));
  return {
    lost: leases.filter((l) => !held.has(l.id)).map((l) => l.id),
    runLeaseLost: rows.filter((r) => r.run_lease_lost).map((r) => r.id),
  };
}

export interface HeartbeatOptions {
  intervalMs: number;
  /** The leases to extend now (deliveries neither finishing, released nor known lost). */
  held(): Lease[];
  /** Extends `leases`; renewLeases on the World's database outside tests of the timer alone. */
  renew(leases: Lease[]): Promise<{ lost: string[]; runLeaseLost: string[] }>;
  onLost(id: string): void;
  onRunLeaseLost(id: string): void;
}

/**
 * The heartbeat timer: runs while deliveries are in flight (`start` when the first begins,
 * `stop` when the last ends); a beat still running when the next is due is not doubled, and a
 * failed beat is logged and retried at the next one.
 */
export function createHeartbeat(opts: HeartbeatOptions) {
  let timer: NodeJS.Timeout | undefined;
  let beating = false;

  async function beat(): Promise<void> {
    if (beating) return;
    beating = true;
    try {
      const held = opts.held();
      const { lost, runLeaseLost } = await opts.renew(held);
      lost.forEach(opts.onLost);
      runLeaseLost.forEach(opts.onRunLeaseLost);
    } catch (error) {
      log.warn('lease heartbeat failed; retrying at the next beat', { error: describeError(error) });
    } finally {
      beating = false;
    }
  }

  return {
    start(): void {
      timer ??= setInterval(() => void beat(), opts.intervalMs);
    },
    stop(): void {
      clearInterval(timer);
      timer = undefined;
    },
    /** Whether the timer is running (tests). */
    get running(): boolean {
      return timer !== undefined;
    },
  };
}
