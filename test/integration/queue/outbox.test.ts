import { afterEach, describe, expect, test } from 'vitest';
import type { PostgresWorld } from '../../../src/index.js';
import { adminSql } from '../../helpers/db.js';
import { messageRows, queueWorld, STEP, waitFor, WORKFLOW, type QueueTestWorld } from './helpers.js';

/**
 * Messages a handler sends to its own run are enqueued by the statement that records the
 * delivery's result (src/queue/outbox.ts); these check that nothing is lost, doubled or reordered
 * by that, through the World's own queue and a real database.
 */
const started: PostgresWorld[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((w) => w.close()));
});

type Hop = { runId?: string; workflowRunId?: string; hop: number };
// payloads carry a hop counter beside the runtime's fields
const stepMessage = (runId: string, hop: number) =>
  ({ workflowName: 'w', workflowRunId: runId, workflowStartedAt: 0, stepId: `step_${hop}`, hop }) as never;
const flowMessage = (runId: string, hop: number) => ({ runId, hop }) as never;

async function start(world: QueueTestWorld) {
  started.push(world);
  await world.start();
}

describe('delivery outbox', () => {
  test('runs ping-pong between workflow and step deliveries: every hop once, in order; a child run is started at once', async () => {
    const world = queueWorld({ queueConcurrency: 4 });
    const hops = new Map<string, number[]>();
    const HOPS = 30;
    const note = (runId: string, hop: number) => hops.set(runId, [...(hops.get(runId) ?? []), hop]);
    world.createQueueHandler(WORKFLOW, async (message) => {
      const { runId, hop } = message as Hop;
      note(runId!, hop);
      if (runId === 'wrun_child') return;
      if (hop === 0 && runId === 'wrun_0') await world.queue(`${WORKFLOW}child`, flowMessage('wrun_child', 0));
      if (hop < HOPS) await world.queue(`${STEP}s`, stepMessage(runId!, hop + 1), { idempotencyKey: `${runId}/${hop + 1}` });
    });
    world.createQueueHandler(STEP, async (message) => {
      const { workflowRunId, hop } = message as Hop;
      note(workflowRunId!, hop);
      if (hop < HOPS) await world.queue(`${WORKFLOW}w`, flowMessage(workflowRunId!, hop + 1));
    });
    await start(world);
    const runs = ['wrun_0', 'wrun_1', 'wrun_2', 'wrun_3', 'wrun_4', 'wrun_5'];
    await Promise.all(runs.map((runId) => world.queue(`${WORKFLOW}w`, flowMessage(runId, 0))));
    await waitFor(() => runs.every((r) => hops.get(r)?.length === HOPS + 1), 'every run to finish its hops');
    await waitFor(() => hops.get('wrun_child')?.length === 1, 'the child run');
    await waitFor(async () => (await messageRows(world.schema)).filter((m) => m.state !== 'done').length === 0, 'acks');
    for (const r of runs) expect(hops.get(r)).toEqual(Array.from({ length: HOPS + 1 }, (_, i) => i));
    expect(world.queueMetrics()).toMatchObject({ delivered: runs.length * (HOPS + 1) + 1, retried: 0, leaseLost: 0 });
  });

  test('a handler that sends and then fails: what it sent is enqueued once with the retry, keyed sends are not doubled', async () => {
    const world = queueWorld();
    const deliveries: string[] = [];
    world.createQueueHandler(WORKFLOW, async (message, meta) => {
      const { runId } = message as Hop;
      deliveries.push(`workflow ${meta.attempt}`);
      // sent on every attempt, twice per attempt: the key keeps it to one message
      const headers = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
      await world.queue(`${STEP}s`, stepMessage(runId!, 1), { idempotencyKey: `${runId}/1`, headers });
      await world.queue(`${STEP}s`, stepMessage(runId!, 1), { idempotencyKey: `${runId}/1`, headers });
      if (meta.attempt < 3) throw new Error(`attempt ${meta.attempt} fails`);
    });
    world.createQueueHandler(STEP, async () => {
      deliveries.push('step');
    });
    await start(world);
    await world.queue(`${WORKFLOW}w`, flowMessage('wrun_f', 0));
    await waitFor(() => deliveries.includes('workflow 3'), 'the third attempt');
    await waitFor(async () => {
      const rows = await messageRows(world.schema);
      return rows.length > 0 && rows.every((m) => m.state === 'done');
    }, 'acks');
    expect(deliveries.filter((d) => d === 'step')).toEqual(['step']);
    expect(world.queueMetrics()).toMatchObject({ delivered: 2, retried: 2 });
    // kept for its key, with the trace headers an HTTP delivery forwards
    const [kept] = await adminSql().unsafe(`select headers from "${world.schema}".messages where idempotency_key = 'wrun_f/1'`);
    expect(kept?.headers).toEqual({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
  });

  test('a keyed send after its key left the idempotency window is enqueued again', async () => {
    const world = queueWorld({ queueIdempotencyWindowMs: 300 });
    let steps = 0;
    world.createQueueHandler(WORKFLOW, async (message) => {
      const { runId } = message as Hop;
      await world.queue(`${STEP}s`, stepMessage(runId!, 1), { idempotencyKey: 'the-key' });
    });
    world.createQueueHandler(STEP, async () => {
      steps++;
    });
    await start(world);
    await world.queue(`${WORKFLOW}w`, flowMessage('wrun_k', 0));
    await waitFor(() => steps === 1, 'the first step');
    const [kept] = await waitFor(async () => {
      const rows = await messageRows(world.schema);
      return rows.length === 1 && rows[0]!.state === 'done' ? rows : undefined;
    }, 'the keyed message kept as done');
    expect(kept).toMatchObject({ idempotency_key: 'the-key' });
    await new Promise((resolve) => setTimeout(resolve, 600)); // past the window
    await world.queue(`${WORKFLOW}w`, flowMessage('wrun_k', 1));
    await waitFor(() => steps === 2, 'the step sent again after the window');
  });
});
