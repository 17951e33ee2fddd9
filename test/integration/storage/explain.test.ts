import postgres from 'postgres';
import { expect, test } from 'vitest';
import { createWorld } from '../../../src/index.js';
import { databaseUrl, freshSchema } from '../../helpers/db.js';
import { createRun, createStep } from '../../helpers/runs.js';

/**
 * Every read the World issues is backed by an index: each captured statement is EXPLAINed with
 * sequential scans disabled, so a Seq Scan in the plan means no index can serve it.
 */
test('hot read queries use indexes', async () => {
  const captured: { query: string; params: unknown[] }[] = [];
  const sql = postgres(databaseUrl, {
    max: 1,
    onnotice: () => {},
    debug: (_connection, query, params) => captured.push({ query, params: params as unknown[] }),
  });
  const world = createWorld({ sql, schema: freshSchema('explain') });
  try {
    const runId = await createRun(world, { started: true });
    await createStep(world, runId, 'step_x');
    await world.events.create(runId, { eventType: 'hook_created', correlationId: 'hook_x', eventData: { token: `tok-${runId}` } });
    captured.length = 0;

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

    const selects = captured.filter((c) => /^\s*select/i.test(c.query));
    expect(selects.length).toBeGreaterThanOrEqual(18);
    const offenders: string[] = [];
    await sql.begin(async (tx) => {
      await tx`set local enable_seqscan = off`;
      for (const { query, params } of selects) {
        const rows = await tx.unsafe(`explain ${query}`, params as never[]);
        const plan = rows.map((r) => Object.values(r)[0]).join('\n');
        if (/Seq Scan/.test(plan)) offenders.push(`${query}\n${plan}`);
      }
    });
    expect(offenders).toEqual([]);
  } finally {
    await world.close();
    await sql.end();
  }
});
