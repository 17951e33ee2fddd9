import { describe, expect, test } from 'vitest';
import { prepareMessage } from '../../../src/queue/enqueue.js';
import { completeDelivery } from '../../../src/queue/complete.js';
import { claimMessages } from '../../../src/queue/claim.js';
import { createHeartbeat, renewLeases } from '../../../src/queue/heartbeat.js';
import { databaseUrl } from '../../helpers/db.js';
import { internalDb, messageRows, queueWorld, spawnWorld, waitFor, WORKFLOW } from './helpers.js';

describe('queue leases', () => {
  test('the heartbeat timer extends held leases on the database and reports a lease taken over', async () => {
    const world = queueWorld();
    await world.queue(`${WORKFLOW}wf`, { runId: 'wrun_beat' });
    const db = internalDb(world.schema);
    const [claimed] = await claimMessages(db, { limit: 1, owner: 'test', leaseMs: 60_000, kinds: ['workflow'], maxEvents: 0 });
    const lost: string[] = [];
    let beats = 0;
    const heartbeat = createHeartbeat({
      intervalMs: 50,
      held: () => [claimed!],
      renew: async (leases) => {
        beats++;
        return renewLeases(db, leases, 120_000);
      },
      onLost: (id) => lost.push(id),
      onRunLeaseLost: () => {},
    });
    const expiry = async () => (await messageRows(world.schema))[0]!.run_at.getTime();
    const before = await expiry();
    heartbeat.start();
    heartbeat.start(); // one timer however often it is started
    await waitFor(async () => (await expiry()) > before + 30_000, 'a beat to extend the lease');
    expect(lost).toEqual([]);
    await db.sql.unsafe(`update "${world.schema}".messages set fence = fence + 1`); // another worker took it
    await waitFor(() => lost.length > 0, 'the beat to notice');
    expect(lost[0]).toBe(claimed!.id);
    heartbeat.stop();
    const stoppedAt = beats;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(beats).toBe(stoppedAt);
  });

  test('a SIGKILLed worker: its message is redelivered after the lease expires; its stale writes are refused', async () => {
    const world = queueWorld({ queueLeaseMs: 1_000 });
    const messageId = (await world.queue(`${WORKFLOW}wf`, { runId: 'wrun_crash' })).messageId!;

    const child = spawnWorld({
      mode: 'consume',
      handler: 'hang',
      options: { connectionString: databaseUrl, schema: world.schema, queueLeaseMs: 1_000, queuePollMs: 200, queueReconcileIntervalMs: 0 },
    });
    await child.waitForLine((l) => l === `handling ${messageId} 1`, 'the child to start the delivery');
    await child.kill();
    const [leased] = await messageRows(world.schema);
    expect(leased).toMatchObject({ id: messageId, state: 'leased', attempt: 1, fence: '1' });

    // this World takes over once the dead child's lease has expired
    let release!: () => void;
    const handled: number[] = [];
    world.createQueueHandler(WORKFLOW, async (_message, meta) => {
      handled.push(meta.attempt);
      await new Promise<void>((resolve) => (release = resolve));
    });
    await world.start();
    await waitFor(() => handled.length === 1, 'redelivery');
    expect(handled).toEqual([2]);
    const [reclaimed] = await messageRows(world.schema);
    expect(reclaimed).toMatchObject({ state: 'leased', attempt: 2, fence: '2' });
    expect(reclaimed!.last_error).toMatch(/lease expired during delivery 1/);

    // the dead worker's late writes (fence 1) change nothing, and what its handler sent is dropped
    // (the redelivered handler sends it again)
    const db = internalDb(world.schema);
    const stale = { id: messageId, fence: '1' };
    const sent = [{ id: 'msg_sent_by_the_stale_delivery', message: prepareMessage(`${WORKFLOW}wf`, { runId: 'wrun_crash' }) }];
    expect((await completeDelivery(db, stale, 'done', { sent })).finished).toBe('lost');
    expect((await completeDelivery(db, stale, 'retry', { delayMs: 0, error: 'x', sent })).finished).toBe('lost');
    expect(await renewLeases(db, [{ id: messageId, fence: '1' }], 60_000)).toEqual({ lost: [messageId], runLeaseLost: [] });
    // every field but run_at, which the live delivery's heartbeat moves: the stale renewal did not
    // push it to a minute away (this World's lease is 1 s)
    const [unchanged] = await messageRows(world.schema);
    const { run_at: expiresAt, ...fields } = unchanged!;
    const { run_at: _reclaimedAt, ...reclaimedFields } = reclaimed!;
    expect(fields).toEqual(reclaimedFields);
    expect(expiresAt.getTime()).toBeLessThan(Date.now() + 30_000);

    release();
    await waitFor(async () => (await messageRows(world.schema)).length === 0, 'completion');
    expect(world.queueMetrics()).toMatchObject({ delivered: 1, leaseLost: 0 });
  });

  test('heartbeats keep a long delivery leased: no second delivery while it runs', async () => {
    // The handler runs until the lease it started with has been renewed past three lease lengths,
    // however long that takes: a slow machine makes the test slower, not wrong. A beat every 1 s
    // keeps a 3 s lease, so only a stall of 2 s between beats could lose it.
    const leaseMs = 3_000;
    const world = queueWorld({ queueLeaseMs: leaseMs });
    let calls = 0;
    let renewals = 0;
    world.createQueueHandler(WORKFLOW, async () => {
      calls++;
      const [row] = await messageRows(world.schema);
      const first = row!.run_at.getTime();
      let last = first;
      await waitFor(async () => {
        const now = (await messageRows(world.schema))[0]!.run_at.getTime();
        if (now > last) renewals++;
        last = now;
        return now > first + 3 * leaseMs;
      }, 'three lease lengths of renewals', 120_000);
    });
    await world.start();
    await world.queue(`${WORKFLOW}wf`, { runId: 'wrun_long' });
    await waitFor(async () => calls === 1 && (await messageRows(world.schema)).length === 0, 'completion', 120_000);
    expect(calls).toBe(1);
    expect(renewals).toBeGreaterThanOrEqual(3);
    expect(world.queueMetrics()).toMatchObject({ delivered: 1, leaseLost: 0 });
  }, 180_000);

  test('stop() waits for deliveries up to shutdownTimeoutMs, then releases their leases at once', async () => {
    const a = queueWorld({ shutdownTimeoutMs: 300, queueLeaseMs: 60_000 });
    const started: number[] = [];
    let finishQuick!: () => void;
    a.createQueueHandler(WORKFLOW, async (message, meta) => {
      started.push(meta.attempt);
      if ((message as { runId: string }).runId === 'wrun_quick') {
        await new Promise<void>((resolve) => (finishQuick = resolve));
        return;
      }
      await new Promise(() => {}); // never finishes
    });
    await a.start();
    await a.queue(`${WORKFLOW}wf`, { runId: 'wrun_quick' });
    await a.queue(`${WORKFLOW}wf`, { runId: 'wrun_stuck' });
    await waitFor(() => started.length === 2, 'both deliveries');
    const closing = a.close();
    finishQuick();
    await closing;
    const rows = await messageRows(a.schema);
    // the quick one finished during the grace period; the stuck one is pending again, due now,
    // its attempt not counted, although its lease had a minute left
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ run_id: 'wrun_stuck', state: 'pending', attempt: 0, lease_owner: null });
    expect(rows[0]!.run_at.getTime()).toBeLessThanOrEqual(Date.now() + 1_000);
    await a.close(); // idempotent

    const b = queueWorld({ schema: a.schema });
    const attempts: number[] = [];
    b.createQueueHandler(WORKFLOW, async (_m, meta) => {
      attempts.push(meta.attempt);
    });
    await b.start();
    await waitFor(async () => (await messageRows(a.schema)).length === 0, 'pickup by another World');
    expect(attempts).toEqual([1]);
  });
});
