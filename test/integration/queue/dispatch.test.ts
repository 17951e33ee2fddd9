import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, test } from 'vitest';
import type { PostgresWorld } from '../../../src/index.js';
import { messageRows, queueWorld, STEP, waitFor, WORKFLOW } from './helpers.js';

type Meta = { attempt: number; queueName: string; messageId: string };
const started: PostgresWorld[] = [];
async function started_(world: PostgresWorld) {
  started.push(world);
  await world.start();
  return world;
}
afterEach(async () => {
  await Promise.all(started.splice(0).map((w) => w.close()));
});

describe('queue delivery', () => {
  test('delivers the exact payload in-process, once, with attempt 1, and deletes it', async () => {
    const world = queueWorld();
    const seen: { message: unknown; meta: Meta }[] = [];
    world.createQueueHandler(WORKFLOW, async (message, meta) => {
      seen.push({ message, meta });
    });
    const big = new Uint8Array(1_000_000).map((_, i) => i % 251);
    const payload = {
      runId: 'wrun_01TEST',
      requestedAt: new Date('2024-01-02T03:04:05.678Z'),
      runInput: { input: new Uint8Array([0, 1, 0, 255]), deploymentId: 'd', workflowName: 'w', specVersion: 3, big },
      text: 'nul\u0000inside',
    };
    const { messageId } = await world.queue(`${WORKFLOW}wf`, payload as never);
    expect(messageId).toMatch(/^msg_[0-9A-Z]{26}$/);
    await started_(world);
    await waitFor(async () => (await messageRows(world.schema)).length === 0, 'ack');
    await world.close(); // the deep comparison below blocks the event loop for longer than a lease
    expect(seen).toHaveLength(1);
    const got = seen[0]!.message as typeof payload;
    expect(Buffer.from(got.runInput.big).equals(Buffer.from(big))).toBe(true);
    expect(got.runInput.input).toBeInstanceOf(Uint8Array);
    expect({ ...got, runInput: { ...got.runInput, big: null } }).toEqual({ ...payload, runInput: { ...payload.runInput, big: null } });
    expect(seen[0]!.meta).toMatchObject({ attempt: 1, queueName: `${WORKFLOW}wf`, messageId });
  });

  test('an enqueue-only World (not started, or queueConcurrency 0) consumes nothing', async () => {
    const producer = queueWorld();
    const idle = queueWorld({ schema: producer.schema, queueConcurrency: 0 });
    let calls = 0;
    producer.createQueueHandler(STEP, async () => {
      calls++;
    });
    await producer.queue(`${STEP}s`, { workflowName: 'w', workflowRunId: 'wrun_1', workflowStartedAt: 1, stepId: 'step_1' });
    await started_(idle);
    await sleep(500);
    expect(calls).toBe(0);
    expect((await messageRows(producer.schema))[0]).toMatchObject({ state: 'pending', attempt: 0 });
  });

  test('delaySeconds: not delivered before it is due', async () => {
    const world = queueWorld();
    const at: number[] = [];
    world.createQueueHandler(WORKFLOW, async () => {
      at.push(Date.now());
    });
    await started_(world);
    const before = Date.now();
    await world.queue(`${WORKFLOW}wf`, { runId: 'wrun_delay' }, { delaySeconds: 1 });
    await waitFor(() => at.length === 1, 'delayed delivery');
    expect(at[0]! - before).toBeGreaterThanOrEqual(950);
  });

  test('{ timeoutSeconds } reschedules the same message, restarts attempt at 1, and is not a failure', async () => {
    const world = queueWorld();
    const calls: { meta: Meta; at: number }[] = [];
    world.createQueueHandler(WORKFLOW, async (_message, meta) => {
      calls.push({ meta, at: Date.now() });
      if (calls.length === 1) return { timeoutSeconds: 1 };
      if (calls.length === 2) return { timeoutSeconds: 0 };
      return undefined;
    });
    await started_(world);
    const { messageId } = await world.queue(`${WORKFLOW}wf`, { runId: 'wrun_timeout' });
    await waitFor(() => calls.length === 3, 'three deliveries');
    expect(calls.map((c) => c.meta.attempt)).toEqual([1, 1, 1]);
    expect(calls.every((c) => c.meta.messageId === messageId)).toBe(true);
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(950);
    await waitFor(async () => (await messageRows(world.schema)).length === 0, 'ack');
    expect(world.queueMetrics()).toMatchObject({ delivered: 1, rescheduled: 2, retried: 0 });
  });

  test('routes by kind: health checks, and bare __wkf_step_ messages to a namespaced step handler', async () => {
    const world = queueWorld();
    const got: string[] = [];
    world.createQueueHandler('__app_wkf_step_', async (message, meta) => {
      got.push(`step:${meta.queueName}:${JSON.stringify(message)}`);
    });
    world.createQueueHandler('__app_wkf_workflow_', async (message, meta) => {
      got.push(`workflow:${meta.queueName}:${JSON.stringify(message)}`);
    });
    await world.queue(`${STEP}health_check`, { __healthCheck: true, correlationId: 'c1' });
    await world.queue(`${WORKFLOW}health_check`, { __healthCheck: true, correlationId: 'c2' });
    await world.queue(`${STEP}step//./a//b`, { workflowName: 'w', workflowRunId: 'wrun_1', workflowStartedAt: 1, stepId: 's' });
    await started_(world);
    await waitFor(() => got.length === 3, 'three deliveries');
    expect(got.sort()).toEqual([
      `step:${STEP}health_check:{"__healthCheck":true,"correlationId":"c1"}`,
      `step:${STEP}step//./a//b:{"workflowName":"w","workflowRunId":"wrun_1","workflowStartedAt":1,"stepId":"s"}`,
      `workflow:${WORKFLOW}health_check:{"__healthCheck":true,"correlationId":"c2"}`,
    ]);
  });

  test('handlers created on a World that is never started serve the started one (the runtime uses two)', async () => {
    const handlers = queueWorld(); // getWorldHandlers(): creates the handlers, never started
    const consumer = queueWorld({ schema: handlers.schema }); // getWorld(): started by the app
    const got: string[] = [];
    handlers.createQueueHandler(WORKFLOW, async (_m, meta) => {
      got.push(meta.messageId);
    });
    const { messageId } = await consumer.queue(`${WORKFLOW}wf`, { runId: 'wrun_two' });
    await started_(consumer);
    await waitFor(() => got.length === 1, 'delivery');
    expect(got).toEqual([messageId]);
  });

  test('rejects invalid queue names and delays with a 400 WorkflowWorldError', async () => {
    const world = queueWorld();
    await expect(world.queue('nope' as never, { runId: 'x' })).rejects.toMatchObject({ name: 'WorkflowWorldError', status: 400 });
    await expect(world.queue(`${WORKFLOW}w`, { runId: 'x' }, { delaySeconds: Number.NaN })).rejects.toMatchObject({ status: 400 });
  });

  test('getDeploymentId comes from configuration', async () => {
    expect(await queueWorld({ deploymentId: 'dpl_test' }).getDeploymentId()).toBe('dpl_test');
  });
});
