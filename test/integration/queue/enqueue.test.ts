import { describe, expect, test } from 'vitest';
import { adminSql, databaseUrl } from '../../helpers/db.js';
import { messageRows, queueWorld, spawnWorld, STEP, waitFor } from './helpers.js';

const step = (stepId: string) => ({ workflowName: 'w', workflowRunId: 'wrun_i', workflowStartedAt: 0, stepId });

describe('enqueue: idempotency', () => {
  test('a pending key answers with the first message id and keeps its delay', async () => {
    const world = queueWorld();
    const first = await world.queue(`${STEP}s`, step('a'), { idempotencyKey: 'step_a', delaySeconds: 60 });
    const [before] = await messageRows(world.schema);
    const racing = await Promise.all(Array.from({ length: 20 }, () => world.queue(`${STEP}s`, step('a'), { idempotencyKey: 'step_a' })));
    expect(new Set(racing.map((r) => r.messageId))).toEqual(new Set([first.messageId]));
    const rows = await messageRows(world.schema);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.run_at).toEqual(before!.run_at);
    // no key: always a new message
    const a = await world.queue(`${STEP}s`, step('b'));
    const b = await world.queue(`${STEP}s`, step('b'));
    expect(a.messageId).not.toBe(b.messageId);
  });

  test('while delivered the key starts nothing in parallel; after done it answers for the window, then frees', async () => {
    // a window no test outlives; its end is reached by moving the message's finish time back
    const world = queueWorld({ queueIdempotencyWindowMs: 60_000 });
    let release!: () => void;
    const deliveries: string[] = [];
    world.createQueueHandler(STEP, async (_m, meta) => {
      deliveries.push(meta.messageId);
      if (deliveries.length === 1) await new Promise<void>((resolve) => (release = resolve));
    });
    await world.start();
    const first = (await world.queue(`${STEP}s`, step('c'), { idempotencyKey: 'step_c' })).messageId;
    await waitFor(() => deliveries.length === 1, 'delivery');
    expect((await world.queue(`${STEP}s`, step('c'), { idempotencyKey: 'step_c' })).messageId).toBe(first);
    release();
    await waitFor(async () => (await messageRows(world.schema))[0]?.state === 'done', 'done');
    expect((await world.queue(`${STEP}s`, step('c'), { idempotencyKey: 'step_c' })).messageId).toBe(first);
    await adminSql().unsafe(`update "${world.schema}".messages set finished_at = finished_at - interval '61 seconds'`);
    const later = (await world.queue(`${STEP}s`, step('c'), { idempotencyKey: 'step_c' })).messageId;
    expect(later).not.toBe(first);
    await waitFor(() => deliveries.length === 2, 'second delivery');
    expect(deliveries).toEqual([first, later]);
  });

  test('two processes enqueueing the same keys at once get one message id per key', async () => {
    const world = queueWorld();
    await world.queue(`${STEP}s`, step('warm-up')); // migrates the schema before the children race
    const keys = Array.from({ length: 200 }, (_, i) => `step_k${i}`);
    const spec = { mode: 'enqueue' as const, keys, options: { connectionString: databaseUrl, schema: world.schema } };
    const [a, b] = [spawnWorld(spec), spawnWorld(spec)];
    const parse = async (c: typeof a) => JSON.parse((await c.waitForLine((l) => l.startsWith('ids '), 'ids')).slice(4)) as string[];
    const [idsA, idsB] = await Promise.all([parse(a), parse(b)]);
    await Promise.all([a.exited, b.exited]);
    expect(idsA).toEqual(idsB);
    expect(new Set(idsA).size).toBe(200);
    const rows = await messageRows(world.schema);
    expect(rows.filter((r) => r.idempotency_key !== null).map((r) => r.id).sort()).toEqual([...idsA].sort());
  });
});
