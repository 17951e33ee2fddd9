import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import { messageRows, queueWorld, STEP, waitFor, WORKFLOW } from './helpers.js';

// In a file of its own: handlers are registered process-wide, and this test needs a process
// where no step handler has been registered yet.
describe('queue delivery by kind', () => {
  test('a worker claims only kinds it can deliver: without a step handler or a secret, steps wait', async () => {
    const world = queueWorld();
    const got: string[] = [];
    world.createQueueHandler(WORKFLOW, async (_m, meta) => {
      got.push(meta.queueName);
    });
    await world.queue(`${STEP}s`, { workflowName: 'w', workflowRunId: 'wrun_k', workflowStartedAt: 1, stepId: 's' });
    await world.queue(`${WORKFLOW}wf`, { runId: 'wrun_k' });
    await world.start();
    await waitFor(() => got.length === 1, 'the workflow delivery');
    await sleep(300);
    expect(await messageRows(world.schema)).toMatchObject([{ kind: 'step', state: 'pending', attempt: 0 }]);
    world.createQueueHandler(STEP, async (_m, meta) => {
      got.push(meta.queueName); // registering wakes the worker
    });
    await waitFor(() => got.length === 2, 'the step delivery');
    await world.close();
  });
});
