import type { EventResult } from '@workflow/world';
import postgres from 'postgres';
import { afterAll, describe, expect, test } from 'vitest';
import { createWorld } from '../../../src/index.js';
import { databaseUrl, freshSchema } from '../../helpers/db.js';
import { bytes, createRun, createStep } from '../../helpers/runs.js';
import { FAST, waitFor, WORKFLOW } from './helpers.js';

/**
 * The claim of a workflow message reads what run_started would answer (claim_deliveries), and
 * the delivery's first run_started is served from it: one statement fewer per workflow delivery.
 */
const statements: string[] = [];
const sql = postgres(databaseUrl, { max: 4, onnotice: () => {}, debug: (_c, query) => statements.push(query) });
const world = createWorld({ ...FAST, sql, schema: freshSchema('runstart') });
afterAll(async () => {
  await world.close();
  await sql.end();
});

const runStarted = (runId: string) => world.events.create(runId, { eventType: 'run_started' });

describe('run_started served from the claim', () => {
  test("a running run's first run_started in a delivery costs no statement and answers as the database does", async () => {
    const runId = await createRun(world, { started: true, input: bytes(9, 8) });
    const stepId = await createStep(world, runId, 'step_a', bytes(3));
    await world.events.create(runId, { eventType: 'step_started', correlationId: stepId });
    await world.events.create(runId, { eventType: 'step_completed', correlationId: stepId, eventData: { result: bytes(4) } });

    const seen: { fromClaim: EventResult; fromDb: EventResult; statementsInBetween: string[]; inHandler: string[] }[] = [];
    world.createQueueHandler(WORKFLOW, async (message) => {
      const before = statements.length;
      const fromClaim = await runStarted((message as { runId: string }).runId);
      const statementsInBetween = statements.slice(before);
      const fromDb = await runStarted((message as { runId: string }).runId); // taken once: this one asks
      seen.push({ fromClaim, fromDb, statementsInBetween, inHandler: statements.slice(before) });
    });
    await world.start();
    await world.queue(`${WORKFLOW}wf`, { runId } as never);
    await waitFor(() => seen.length === 1, 'the delivery');
    const [{ fromClaim, fromDb, statementsInBetween, inHandler }] = seen as [(typeof seen)[0]];
    // (the worker's own statements may run meanwhile: only storage statements count)
    expect(statementsInBetween.filter((s) => /append_|events/.test(s))).toEqual([]);
    expect(fromClaim.run?.status).toBe('running');
    expect(fromClaim.events).toHaveLength(5);
    expect(fromClaim).toEqual(fromDb);
    expect(inHandler.filter((s) => s.includes('append_run_started_log'))).toHaveLength(1);
  });

  test('a pending run is started by the delivery itself (the claim reads nothing for it)', async () => {
    const runId = await createRun(world);
    const results: EventResult[] = [];
    world.createQueueHandler(WORKFLOW, async (message) => {
      results.push(await runStarted((message as { runId: string }).runId));
    });
    await world.queue(`${WORKFLOW}wf`, { runId } as never);
    await waitFor(() => results.length === 1, 'the delivery');
    expect(results[0]!.event?.eventType).toBe('run_started');
    expect(results[0]!.events?.map((e) => e.eventType)).toEqual(['run_created', 'run_started']);
  });

  test('a run finished before its message is delivered: run_started answers RunExpiredError as always', async () => {
    const runId = await createRun(world, { started: true });
    await world.events.create(runId, { eventType: 'run_cancelled' });
    const errors: string[] = [];
    world.createQueueHandler(WORKFLOW, async (message) => {
      await runStarted((message as { runId: string }).runId).catch((error: Error) => errors.push(error.name));
    });
    await world.queue(`${WORKFLOW}wf`, { runId } as never);
    await waitFor(() => errors.length === 1, 'the delivery');
    expect(errors).toEqual(['RunExpiredError']);
  });
});
