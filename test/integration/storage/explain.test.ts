import { expect, test } from 'vitest';
import { selectsWithoutIndex } from '../../helpers/explain.js';
import { createRun, createStep } from '../../helpers/runs.js';

/** Every read the World's storage issues is backed by an index. */
test('hot read queries use indexes', async () => {
  let runId = '';
  const offenders = await selectsWithoutIndex(
    async (world) => {
      runId = await createRun(world, { started: true });
      await createStep(world, runId, 'step_x');
      await world.events.create(runId, { eventType: 'hook_created', correlationId: 'hook_x', eventData: { token: `tok-${runId}` } });
    },
    async (world) => {
      const page = await world.events.list({ runId, pagination: { limit: 1 } });
      await world.events.list({ runId, pagination: { cursor: page.cursor as string } });
      await world.events.list({ runId, pagination: { sortOrder: 'desc' } });
      await world.events.listByCorrelationId({ correlationId: 'step_x', runId });
      await world.events.listByCorrelationId({ correlationId: 'step_x' });
      await world.events.get(runId, page.data[0]!.eventId);
      await world.runs.get(runId);
      const runs = await world.runs.list({ pagination: { limit: 1 } });
      await world.runs.list({ pagination: { limit: 1, cursor: runs.cursor as string } });
      await world.runs.list({ status: 'running', pagination: { sortOrder: 'asc' } });
      await world.runs.list({ workflowName: 'workflow//test//wf', resolveData: 'none' });
      await world.steps.get(runId, 'step_x');
      await world.steps.get(undefined, 'step_x');
      await world.steps.list({ runId });
      await world.hooks.get('hook_x');
      await world.hooks.getByToken(`tok-${runId}`);
      await world.hooks.list({ runId });
      await world.hooks.list({ pagination: { limit: 1 } });
    },
    18,
  );
  expect(offenders).toEqual([]);
});
