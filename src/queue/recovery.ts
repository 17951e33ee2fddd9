import { getQueueTopicPrefix, resolveQueueNamespace } from '@workflow/world';
import type { Db } from '../db/client.js';
import { newMessageId } from '../ids.js';
import { describeError, log } from '../log.js';
import { insertMessage, prepareMessage, type NewMessage } from './enqueue.js';
import type { QueueMetrics } from './metrics.js';
import type { Waker } from './wake.js';

/**
 * Recovery that does not depend on the process that lost the work: at start and every
 * `queueReconcileIntervalMs`, one process at a time (a transaction advisory lock; the others
 * skip the round) re-enqueues runs that are active but have no live message, no future wait and
 * no event for one interval — a crash between an event and its enqueue, a dead-lettered
 * delivery, a sleeping run whose message was lost. Each run is re-driven once per state of its
 * event log (run_redrives), so a run that only waits for a hook is not replayed at every round.
 * The same round deletes finished messages whose idempotency window has passed.
 */
const BATCH = 500;

export interface ReconcileResult {
  /** Runs re-enqueued, with the message that re-drives each. */
  redriven: { runId: string; messageId: string }[];
  /** Finished messages deleted. */
  swept: number;
  /** The round stopped at its batch size: run another one. */
  more: boolean;
}

/** One round; undefined when another process holds the round. */
export async function reconcileOnce(db: Db, waker: Waker): Promise<ReconcileResult | undefined> {
  const s = db.ident;
  const graceMs = db.config.queueReconcileIntervalMs;
  const prefix = getQueueTopicPrefix('workflow', resolveQueueNamespace());
  const result = (await db.sql.begin(async (tx) => {
    const [lock] = await tx.unsafe<{ leader: boolean }[]>(
      `select pg_try_advisory_xact_lock(hashtextextended($1, 0)) as leader`,
      [`workflow-world-postgres:reconcile:${db.schema}`],
    );
    if (!lock?.leader) return undefined;
    // runs_status_idx finds the active runs; each NOT EXISTS is a probe of messages_run_id_idx,
    // the waits primary key and the run_redrives primary key.
    const stuck = await tx.unsafe<{ run_id: string; workflow_name: string; last_event_ms: string }[]>(
      `select r.run_id, r.workflow_name, r.last_event_ms::text
         from ${s}.runs r
        where r.status in ('pending', 'running')
          and r.last_event_ms <= floor(extract(epoch from now()) * 1000) - $1
          and not exists (select 1 from ${s}.messages m
                           where m.run_id = r.run_id and m.state in ('pending', 'leased'))
          and not exists (select 1 from ${s}.waits w
                           where w.run_id = r.run_id and w.status = 'waiting' and w.resume_at > now())
          and not exists (select 1 from ${s}.run_redrives d
                           where d.run_id = r.run_id and d.last_event_ms = r.last_event_ms)
        limit ${BATCH}`,
      [graceMs] as never[],
    );
    const redriven: ReconcileResult['redriven'] = [];
    for (const run of stuck) {
      let message: NewMessage | undefined;
      try {
        message = prepareMessage(`${prefix}${run.workflow_name}`, { runId: run.run_id }, {
          idempotencyKey: `reconcile:${run.run_id}:${run.last_event_ms}`,
        });
      } catch (error) {
        log.warn('reconciliation cannot re-enqueue a run', { runId: run.run_id, error: describeError(error) });
      }
      const messageId = message && (await insertMessage(db, newMessageId(), message, tx)).messageId;
      await tx.unsafe(
        `insert into ${s}.run_redrives (run_id, last_event_ms) values ($1, $2)
         on conflict (run_id) do update set last_event_ms = excluded.last_event_ms, redriven_at = now()`,
        [run.run_id, run.last_event_ms] as never[],
      );
      if (messageId) redriven.push({ runId: run.run_id, messageId });
    }
    // messages_done_idx; bounded so one round stays short
    const swept = await tx.unsafe(
      `delete from ${s}.messages where id in (
         select id from ${s}.messages
          where state = 'done' and finished_at <= now() - $1 * interval '1 millisecond'
          order by finished_at limit 5000)`,
      [db.config.queueIdempotencyWindowMs] as never[],
    );
    return { redriven, swept: swept.count, more: stuck.length === BATCH };
  })) as ReconcileResult | undefined;
  // logged and announced once committed
  for (const r of result?.redriven ?? []) log.info('reconciliation re-enqueued a run that had no live message', r);
  if (result?.redriven.length) await waker.wake();
  return result;
}

/** Runs `reconcileOnce` at start and every interval; a failed round is logged and retried next time. */
export function createReconciler({ db, waker, metrics }: { db: Db; waker: Waker; metrics: QueueMetrics }) {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  function tick(): void {
    if (running || stopped) return;
    running = (async () => {
      let result: ReconcileResult | undefined;
      do {
        result = await reconcileOnce(db, waker);
        metrics.reconciled += result?.redriven.length ?? 0;
      } while (result?.more && !stopped);
    })()
      .catch((error) => log.warn('reconciliation round failed; retrying next interval', { error: describeError(error) }))
      .finally(() => {
        running = undefined;
      });
  }

  return {
    start(): void {
      tick();
      timer = setInterval(tick, db.config.queueReconcileIntervalMs);
      timer.unref();
    },
    async stop(): Promise<void> {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
