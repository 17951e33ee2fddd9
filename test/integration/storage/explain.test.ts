import { expect, test } from 'vitest';
import { nestedPlans, selectsWithoutIndex } from '../../helpers/explain.js';
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

/** run_started reads the run's log inside append_run_started_log: through events_run_id_idx. */
test('the log that run_started returns is read through the (run_id, id) index', async () => {
  const plans = await nestedPlans(
    async (world) => {
      for (let i = 0; i < 3; i++) {
        const runId = await createRun(world, { started: true });
        await createStep(world, runId, 'step_x');
      }
    },
    async (world) => {
      const runId = await createRun(world);
      for (let i = 0; i < 3; i++) {
        const { events } = await world.events.create(runId, { eventType: 'run_started' });
        expect(events).toHaveLength(2);
      }
    },
  );
  const logReads = plans.filter((p) => /from "[^"]+"\.events e where e\.run_id = p_run_id/.test(p));
  // per call: the bound check and the read
  expect(logReads).toHaveLength(6);
  for (const plan of logReads) {
    // an index, bitmap or index-only scan of it; never a scan of the whole table or of the primary key
    expect(plan).toMatch(/Index (Only )?Scan (using|on) events_run_id_idx/);
    expect(plan).not.toMatch(/Seq Scan|events_pkey/);
  }
});
