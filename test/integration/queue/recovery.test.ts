import { ulid } from 'ulid';
import { describe, expect, test } from 'vitest';
import { channelName } from '../../../src/db/listener.js';
import { reconcileOnce } from '../../../src/queue/recovery.js';
import { createWaker } from '../../../src/queue/wake.js';
import { adminSql } from '../../helpers/db.js';
import { internalDb, messageRows, queueWorld, waitFor, WORKFLOW, type QueueTestWorld } from './helpers.js';

/**
 * The grace period: a run is re-driven only after this long without an event. Tests do not
 * wait it out; they move a run's clock instead (`age`), so a stalled machine cannot make a run
 * look quiet, or busy, when the test says otherwise.
 */
const GRACE = 60_000;

/** Moves the runs' latest event (and their waits' due times) `ms` into the past. */
async function age(world: QueueTestWorld, runIds: string[], ms = GRACE + 1_000): Promise<void> {
  const s = `"${world.schema}"`;
  await adminSql().unsafe(`update ${s}.runs set last_event_ms = last_event_ms - $2 where run_id = any($1)`, [runIds, ms]);
  await adminSql().unsafe(
    `update ${s}.waits set resume_at = resume_at - $2 * interval '1 millisecond' where run_id = any($1)`,
    [runIds, ms],
  );
}

async function createRun(world: QueueTestWorld, opts: { started?: boolean; workflowName?: string } = {}): Promise<string> {
  const runId = `wrun_${ulid()}`;
  await world.events.create(runId, {
    eventType: 'run_created',
    eventData: { deploymentId: 'dpl_test', workflowName: opts.workflowName ?? 'workflow//./src/wf//main', input: new Uint8Array([1]) },
  });
  if (opts.started) await world.events.create(runId, { eventType: 'run_started' });
  return runId;
}

/** One round; the ids of the runs it re-drove (undefined when another process held the round). */
async function reconcile(world: QueueTestWorld) {
  const db = internalDb(world.schema, { queueReconcileIntervalMs: GRACE });
  const result = await reconcileOnce(db, createWaker(db, channelName(world.schema, 'queue')));
  return result && { redriven: result.redriven.map((r) => r.runId) };
}

describe('reconciliation', () => {
  test('re-enqueues active runs that have no live message, no future wait and no recent event — once per log state', async () => {
    const world = queueWorld({ queueReconcileIntervalMs: GRACE });
    const stranded = await createRun(world, { started: true });
    const pending = await createRun(world);
    const withMessage = await createRun(world, { started: true });
    await world.queue(`${WORKFLOW}workflow//./src/wf//main`, { runId: withMessage }, { delaySeconds: 3_600 });
    const sleeping = await createRun(world, { started: true });
    await world.events.create(sleeping, {
      eventType: 'wait_created',
      correlationId: `wait_${ulid()}`,
      eventData: { resumeAt: new Date(Date.now() + 3_600_000) },
    });
    const overdue = await createRun(world, { started: true }); // its timer fell due while no worker ran
    await world.events.create(overdue, {
      eventType: 'wait_created',
      correlationId: `wait_${ulid()}`,
      eventData: { resumeAt: new Date(Date.now() + 100) },
    });
    const finished = await createRun(world, { started: true });
    await world.events.create(finished, { eventType: 'run_completed', eventData: { output: new Uint8Array([2]) } });
    // a minute passes for all of them (the sleeping run's wait is still an hour away: 59 minutes)
    await age(world, [stranded, pending, withMessage, sleeping, overdue, finished]);
    const recent = await createRun(world, { started: true });

    const first = await reconcile(world);
    expect(first?.redriven.sort()).toEqual([stranded, pending, overdue].sort());
    const rows = (await messageRows(world.schema)).filter((r) => r.run_id !== withMessage);
    expect(rows.map((r) => r.queue_name)).toEqual(Array(3).fill(`${WORKFLOW}workflow//./src/wf//main`));
    expect(rows).toHaveLength(3);
    for (const row of rows) {
      expect(row).toMatchObject({ state: 'pending' });
      expect(row.idempotency_key).toMatch(/^reconcile:wrun_/);
    }

    // the re-driven messages are gone (delivered), the logs did not change: nothing to do again
    await adminSql().unsafe(`delete from "${world.schema}".messages where run_id = any($1)`, [[stranded, pending, overdue]]);
    expect((await reconcile(world))?.redriven).toEqual([]);
    await age(world, [recent]); // now the recent run has been quiet long enough too
    expect((await reconcile(world))?.redriven).toEqual([recent]);
    expect((await reconcile(world))?.redriven).toEqual([]);

    // progress (a new event) and then silence again: re-driven once more
    await world.events.create(stranded, { eventType: 'step_created', correlationId: 'step_1', eventData: { stepName: 's', input: new Uint8Array() } });
    expect((await reconcile(world))?.redriven).toEqual([]); // not quiet yet
    await age(world, [stranded]);
    expect((await reconcile(world))?.redriven).toEqual([stranded]);
  });

  test('one process at a time: a round is skipped while another holds it', async () => {
    const world = queueWorld();
    await age(world, [await createRun(world, { started: true })]);
    const sql = adminSql();
    await sql.begin(async (tx) => {
      await tx.unsafe(`select pg_advisory_xact_lock(hashtextextended($1, 0))`, [`workflow-world-postgres:reconcile:${world.schema}`]);
      expect(await reconcile(world)).toBeUndefined();
    });
    expect((await reconcile(world))?.redriven).toHaveLength(1);
  });

  test('a started World re-drives a run whose message was lost, and counts it', async () => {
    const world = queueWorld({ queueReconcileIntervalMs: GRACE });
    const seen: string[] = [];
    world.createQueueHandler(WORKFLOW, async (message) => {
      seen.push((message as { runId: string }).runId);
    });
    const runId = await createRun(world, { started: true });
    await age(world, [runId]); // stranded a minute ago: the round at start re-drives it
    await world.start();
    await waitFor(() => seen.includes(runId), 'the re-driven delivery');
    expect(world.queueMetrics().reconciled).toBe(1);
  });

  test('finished messages are swept once their idempotency window has passed, not before', async () => {
    const windowMs = 60_000;
    const world = queueWorld({ queueIdempotencyWindowMs: windowMs });
    world.createQueueHandler(WORKFLOW, async () => {});
    await world.start();
    await world.queue(`${WORKFLOW}wf`, { runId: 'wrun_sweep' }, { idempotencyKey: 'k-sweep' });
    await waitFor(async () => (await messageRows(world.schema))[0]?.state === 'done', 'done');
    const db = internalDb(world.schema, { queueIdempotencyWindowMs: windowMs });
    const round = async () => (await reconcileOnce(db, createWaker(db, channelName(world.schema, 'queue'))))?.swept;
    expect(await round()).toBe(0);
    expect(await messageRows(world.schema)).toHaveLength(1);
    await adminSql().unsafe(`update "${world.schema}".messages set finished_at = finished_at - interval '61 seconds'`);
    expect(await round()).toBe(1);
    expect(await messageRows(world.schema)).toEqual([]);
  });
});
