import { describe, expect, test } from 'vitest';
import { testWorld } from '../../helpers/db.js';
import { bytes, createRun, createStep, newRunIdForTest, rejection } from '../../helpers/runs.js';

const world = testWorld();

describe('step events', () => {
  test('step_created → started → completed, with attempt, startedAt and completedAt', async () => {
    const runId = await createRun(world, { started: true });
    const created = await world.events.create(runId, {
      eventType: 'step_created', correlationId: 'step_a', eventData: { stepName: 'step//x//add', input: bytes(1, 2) },
    });
    expect(created.step).toMatchObject({ runId, stepId: 'step_a', stepName: 'step//x//add', status: 'pending', attempt: 0, input: bytes(1, 2), specVersion: 3 });
    expect(created.step?.startedAt).toBeUndefined();
    const started = await world.events.create(runId, { eventType: 'step_started', correlationId: 'step_a', eventData: { attempt: 1 } });
    expect(started.step).toMatchObject({ status: 'running', attempt: 1, input: bytes(1, 2) });
    const firstStart = started.step?.startedAt?.getTime();
    expect(firstStart).toBeTypeOf('number');
    // a redelivery after a crash starts it again: attempt counts, startedAt stays
    const restarted = await world.events.create(runId, { eventType: 'step_started', correlationId: 'step_a' });
    expect(restarted.step).toMatchObject({ status: 'running', attempt: 2 });
    expect(restarted.step?.startedAt?.getTime()).toBe(firstStart);
    const completed = await world.events.create(runId, { eventType: 'step_completed', correlationId: 'step_a', eventData: { result: bytes(3) } });
    expect(completed.step).toMatchObject({ status: 'completed', output: bytes(3), attempt: 2 });
    expect(completed.step?.completedAt).toBeInstanceOf(Date);
    expect(completed.step?.updatedAt.getTime()).toBe(completed.event?.createdAt.getTime());
    const read = await world.steps.get(runId, 'step_a');
    expect(read).toMatchObject({ status: 'completed', output: bytes(3), input: bytes(1, 2) });
    const byIdOnly = await world.steps.get(undefined, 'step_a');
    expect(byIdOnly).toEqual(read); // step_a exists in this run only
    const bare = await world.steps.get(runId, 'step_a', { resolveData: 'none' });
    expect(bare.input).toBeUndefined();
    expect(bare.output).toBeUndefined();
  });

  test('a duplicate step_created is an EntityConflictError and writes nothing', async () => {
    const runId = await createRun(world, { started: true });
    await createStep(world, runId, 'step_dup');
    const error = await rejection(createStep(world, runId, 'step_dup'));
    expect(error).toMatchObject({ name: 'EntityConflictError', status: 409 });
    const { data } = await world.events.list({ runId });
    expect(data.filter((e) => e.eventType === 'step_created')).toHaveLength(1);
  });

  test('step_created on a missing run is WorkflowRunNotFoundError; on a terminal run EntityConflictError', async () => {
    expect((await rejection(createStep(world, newRunIdForTest()))).name).toBe('WorkflowRunNotFoundError');
    const runId = await createRun(world, { started: true });
    await world.events.create(runId, { eventType: 'run_cancelled' });
    expect((await rejection(createStep(world, runId))).name).toBe('EntityConflictError');
  });

  test('events on a missing step are 404 WorkflowWorldError', async () => {
    const runId = await createRun(world, { started: true });
    for (const request of [
      { eventType: 'step_started', correlationId: 'step_nope' },
      { eventType: 'step_completed', correlationId: 'step_nope', eventData: { result: bytes() } },
      { eventType: 'step_failed', correlationId: 'step_nope', eventData: { error: 'x' } },
      { eventType: 'step_retrying', correlationId: 'step_nope', eventData: { error: 'x' } },
    ]) {
      expect(await rejection(world.events.create(runId, request as never))).toMatchObject({ name: 'WorkflowWorldError', status: 404 });
    }
    expect(await rejection(world.steps.get(runId, 'step_nope'))).toMatchObject({ name: 'WorkflowWorldError', status: 404 });
  });

  test('terminal steps refuse every further transition with EntityConflictError', async () => {
    const runId = await createRun(world, { started: true });
    const stepId = await createStep(world, runId);
    await world.events.create(runId, { eventType: 'step_started', correlationId: stepId });
    await world.events.create(runId, { eventType: 'step_failed', correlationId: stepId, eventData: { error: { message: 'fatal' }, stack: 'at y' } });
    const failed = await world.steps.get(runId, stepId);
    expect(failed.status).toBe('failed');
    expect(failed.error).toEqual({ message: 'fatal', stack: 'at y' });
    expect(failed.completedAt).toBeInstanceOf(Date);
    for (const request of [
      { eventType: 'step_started', correlationId: stepId },
      { eventType: 'step_completed', correlationId: stepId, eventData: { result: bytes() } },
      { eventType: 'step_failed', correlationId: stepId, eventData: { error: 'again' } },
      { eventType: 'step_retrying', correlationId: stepId, eventData: { error: 'again' } },
    ]) {
      expect((await rejection(world.events.create(runId, request as never))).name).toBe('EntityConflictError');
    }
  });

  test('step_retrying returns to pending with the error and retryAfter; an early start is TooEarlyError', async () => {
    const runId = await createRun(world, { started: true });
    const stepId = await createStep(world, runId);
    await world.events.create(runId, { eventType: 'step_started', correlationId: stepId });
    const retryAfter = new Date(Date.now() + 30_000);
    const { step } = await world.events.create(runId, {
      eventType: 'step_retrying', correlationId: stepId, eventData: { error: 'flaky', stack: 'at z', retryAfter },
    });
    expect(step).toMatchObject({ status: 'pending', attempt: 1, error: { message: 'flaky', stack: 'at z' } });
    expect(step?.retryAfter?.getTime()).toBe(retryAfter.getTime());
    const early = await rejection(world.events.create(runId, { eventType: 'step_started', correlationId: stepId }));
    expect(early).toMatchObject({ name: 'TooEarlyError', status: 425 });
    expect(early.retryAfter).toBeGreaterThanOrEqual(29);
    expect(early.retryAfter).toBeLessThanOrEqual(30);
    // without retryAfter the step may start at once; the start clears retryAfter
    const other = await createStep(world, runId);
    await world.events.create(runId, { eventType: 'step_started', correlationId: other });
    await world.events.create(runId, { eventType: 'step_retrying', correlationId: other, eventData: { error: 'e' } });
    const again = await world.events.create(runId, { eventType: 'step_started', correlationId: other });
    expect(again.step).toMatchObject({ status: 'running', attempt: 2 });
    expect(again.step?.retryAfter).toBeUndefined();
  });

  test("a step that retried and then completed keeps the last retry's error, with its output, in every read", async () => {
    const runId = await createRun(world, { started: true });
    const stepId = await createStep(world, runId);
    await world.events.create(runId, { eventType: 'step_started', correlationId: stepId });
    await world.events.create(runId, {
      eventType: 'step_retrying', correlationId: stepId, eventData: { error: { message: 'first\u0000try', stack: 'at one' } },
    });
    await world.events.create(runId, { eventType: 'step_started', correlationId: stepId });
    await world.events.create(runId, {
      eventType: 'step_retrying', correlationId: stepId, eventData: { error: { message: 'second\u0000try', stack: 'at two\u0000' } },
    });
    await world.events.create(runId, { eventType: 'step_started', correlationId: stepId });
    const { step } = await world.events.create(runId, {
      eventType: 'step_completed', correlationId: stepId, eventData: { result: bytes(9) },
    });
    const expected = { status: 'completed', attempt: 3, output: bytes(9), error: { message: 'second\u0000try', stack: 'at two\u0000' } };
    expect(step).toMatchObject(expected);
    expect(await world.steps.get(runId, stepId)).toMatchObject(expected);
    expect(await world.steps.get(undefined, stepId)).toMatchObject(expected);
    expect((await world.steps.list({ runId })).data[0]).toMatchObject(expected);
    // resolveData 'none' drops the output, not the error
    const bare = await world.steps.get(runId, stepId, { resolveData: 'none' });
    expect(bare.output).toBeUndefined();
    expect(bare.error).toEqual(expected.error);
    expect((await world.steps.list({ runId, resolveData: 'none' })).data[0]?.error).toEqual(expected.error);
    // a step that never failed has no error
    const clean = await createStep(world, runId);
    await world.events.create(runId, { eventType: 'step_started', correlationId: clean });
    const done = await world.events.create(runId, { eventType: 'step_completed', correlationId: clean, eventData: { result: 1 } });
    expect(done.step?.error).toBeUndefined();
    expect((await world.steps.get(runId, clean)).error).toBeUndefined();
  });

  test('step_started on a terminal run is RunExpiredError; step_completed is still accepted', async () => {
    const runId = await createRun(world, { started: true });
    const running = await createStep(world, runId);
    const pending = await createStep(world, runId);
    await world.events.create(runId, { eventType: 'step_started', correlationId: running });
    await world.events.create(runId, { eventType: 'run_cancelled' });
    expect((await rejection(world.events.create(runId, { eventType: 'step_started', correlationId: pending }))).name).toBe('RunExpiredError');
    const late = await world.events.create(runId, { eventType: 'step_completed', correlationId: running, eventData: { result: bytes(1) } });
    expect(late.step?.status).toBe('completed');
    expect((await world.runs.get(runId)).status).toBe('cancelled');
  });

  test('50 concurrent step_completed for one step: exactly one wins', async () => {
    const runId = await createRun(world, { started: true });
    const stepId = await createStep(world, runId);
    await world.events.create(runId, { eventType: 'step_started', correlationId: stepId });
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) =>
        world.events.create(runId, { eventType: 'step_completed', correlationId: stepId, eventData: { result: bytes(i) } }),
      ),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect((r.reason as Error).name).toBe('EntityConflictError');
    const winner = (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof world.events.create>>>).value;
    expect((await world.steps.get(runId, stepId)).output).toEqual(winner.step?.output);
    const { data } = await world.events.list({ runId });
    expect(data.filter((e) => e.eventType === 'step_completed')).toHaveLength(1);
  });

  test('concurrent step_started are serialised: each increments attempt', async () => {
    const runId = await createRun(world, { started: true });
    const stepId = await createStep(world, runId);
    const results = await Promise.all(
      Array.from({ length: 10 }, () => world.events.create(runId, { eventType: 'step_started', correlationId: stepId })),
    );
    expect(results.map((r) => r.step?.attempt).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(new Set(results.map((r) => r.step?.startedAt?.getTime())).size).toBe(1);
  });

  test('racing replays creating the same steps: one step_created per step', async () => {
    const runId = await createRun(world, { started: true });
    const ids = Array.from({ length: 10 }, (_, i) => `step_race_${i}`);
    const replay = () => Promise.allSettled(ids.map((id) => createStep(world, runId, id)));
    const outcomes = (await Promise.all([replay(), replay(), replay()])).flat();
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(ids.length);
    const { data } = await world.events.list({ runId });
    expect(data.filter((e) => e.eventType === 'step_created')).toHaveLength(ids.length);
    const steps = await world.steps.list({ runId, pagination: { sortOrder: 'asc', limit: 100 } });
    expect(steps.data).toHaveLength(ids.length);
  });
});
