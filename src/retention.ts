import { pgArray } from './db/arrays.js';
import type { Db } from './db/client.js';
import { describeError, log } from './log.js';

/**
 * Opt-in retention (docs/world-contract.md §8: the runtime deletes nothing). Finished runs older
 * than `retentionDays` are deleted in batches; their events, steps, hooks and waits go with them
 * (foreign keys cascade), and so do their streams. Runs that are pending or running are never
 * touched.
 */
const BATCH = 500;

/** How often a started World cleans up: hourly. */
export const RETENTION_INTERVAL_MS = 3_600_000;

export async function deleteFinishedRuns(db: Db, olderThanDays: number): Promise<number> {
  let total = 0;
  for (;;) {
    // A transaction lock on the schema's retention key: replicas never delete the same batch.
    const deleted = await db.sql.begin(async (tx) => {
      const [lock] = await tx`
        select pg_try_advisory_xact_lock(hashtextextended(${'workflow-world-postgres:retention:' + db.schema}, 0)) as got`;
      if (!lock?.got) return -1;
      const rows = await tx`
        delete from ${tx(db.schema)}.runs where run_id in (
          select run_id from ${tx(db.schema)}.runs
           where completed_at < now() - make_interval(days => ${olderThanDays})
           order by completed_at limit ${BATCH})
        returning run_id`;
      // streams name their run without a foreign key (health checks write under fabricated ids)
      await tx`
        with gone as (
          delete from ${tx(db.schema)}.streams where run_id = any(${pgArray(rows.map((r) => r.run_id as string))}::text[])
          returning stream_name)
        delete from ${tx(db.schema)}.stream_chunks where stream_name in (select stream_name from gone)`;
      return rows.length;
    });
    if (deleted < 0) return total; // another process is cleaning up
    total += deleted;
    if (deleted < BATCH) return total;
  }
}

/** Runs the cleanup now and then every `intervalMs` until stopped; failures are logged. */
export function startRetention(getDb: () => Promise<Db>, days: number, intervalMs = RETENTION_INTERVAL_MS): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    try {
      const deleted = await deleteFinishedRuns(await getDb(), days);
      if (deleted > 0) log.info('retention: deleted finished runs', { deleted, olderThanDays: days });
    } catch (error) {
      log.warn('retention cleanup failed; will retry', { error: describeError(error) });
    }
    if (!stopped) {
      timer = setTimeout(tick, intervalMs);
      timer.unref();
    }
  };
  void tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
