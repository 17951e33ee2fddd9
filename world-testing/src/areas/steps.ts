import { expect } from 'vitest';
import type { Area } from '../area.js';
import {
  allEvents,
  completeStep,
  count,
  createStep,
  eventTypes,
  runningRun,
  send,
  startStep,
  stepName,
} from '../fixtures.js';
import { arr, dataOf, type Loose, newRunId, newStepId, payload, rejection, rejectsWithName, settle } from '../util.js';

/** docs/world-contract.md §2.3, §3.1 (step state machine), §3.2 step_* events, §6.4. */
export function stepsArea({ must, should }: Area): void {
  must('step_created creates a pending step with attempt 0 and returns { event, step }', async ({ world }) => {
    const runId = await runningRun(world);
    const stepId = newStepId();
    const res = await send(world, runId, { eventType: 'step_created', correlationId: stepId, eventData: { stepName, input: payload(4) } });
    expect(res.event?.eventType).toBe('step_created');
    expect(res.event?.correlationId).toBe(stepId);
    expect(res.step?.stepId).toBe(stepId);
    expect(res.step?.runId).toBe(runId);
    expect(res.step?.status).toBe('pending');
    expect(res.step?.attempt).toBe(0);
    expect(res.step?.stepName).toBe(stepName);
    expect(arr(res.step?.input)).toEqual(Array.from(payload(4)));
    const step = await world.steps.get(runId, stepId);
    expect(step.status).toBe('pending');
    expect(step.attempt).toBe(0);
    expect(step.startedAt).toBeUndefined();
    expect(step.createdAt).toBeInstanceOf(Date);
  });

  must('a duplicate step_created throws EntityConflictError and writes nothing', async ({ world }) => {
    const runId = await runningRun(world);
    const stepId = await createStep(world, runId, newStepId(), payload(1));
    await rejectsWithName(
      send(world, runId, { eventType: 'step_created', correlationId: stepId, eventData: { stepName: 'other', input: payload(2) } }),
      'EntityConflictError',
    );
    expect(arr((await world.steps.get(runId, stepId)).input)).toEqual(Array.from(payload(1)));
    expect(count(await eventTypes(world, runId), 'step_created')).toBe(1);
  });

  must('concurrent duplicate step_created (racing replays): one step, one step_created event', async ({ world }) => {
    const runId = await runningRun(world);
    const stepId = newStepId();
    const { ok, errors } = await settle(Array.from({ length: 10 }, () => createStep(world, runId, stepId)));
    expect(ok.length).toBe(1);
    expect(errors.map((e) => e.name)).toEqual(Array(9).fill('EntityConflictError'));
    expect(count(await eventTypes(world, runId), 'step_created')).toBe(1);
  });

  must('step_created on a finished run throws EntityConflictError; on an unknown run WorkflowRunNotFoundError', async ({ world }) => {
    const runId = await runningRun(world);
    await send(world, runId, { eventType: 'run_completed', eventData: { output: payload(1) } });
    await rejectsWithName(createStep(world, runId), 'EntityConflictError', 'step_created on a completed run');
    await rejectsWithName(createStep(world, newRunId()), 'WorkflowRunNotFoundError', 'step_created on an unknown run');
  });

  must('step_started: running, attempt + 1, startedAt set once, full input returned', async ({ world }) => {
    const runId = await runningRun(world);
    const stepId = await createStep(world, runId, newStepId(), payload(3, 3));
    const first = await startStep(world, runId, stepId);
    expect(first.step?.status).toBe('running');
    expect(first.step?.attempt).toBe(1);
    expect(first.step?.startedAt).toBeInstanceOf(Date);
    expect(arr(first.step?.input)).toEqual(Array.from(payload(3, 3)));
    const second = await startStep(world, runId, stepId);
    expect(second.step?.status).toBe('running');
    expect(second.step?.attempt).toBe(2);
    expect(second.step?.startedAt?.getTime()).toBe(first.step.startedAt.getTime());
    const step = await world.steps.get(runId, stepId);
    expect(step.attempt).toBe(2);
    expect(step.startedAt?.getTime()).toBe(first.step.startedAt.getTime());
  });

  must('10 concurrent step_started on one step are serialised: attempts 1..10, one startedAt', async ({ world }) => {
    const runId = await runningRun(world);
    const stepId = await createStep(world, runId);
    const { ok, errors } = await settle(Array.from({ length: 10 }, () => startStep(world, runId, stepId)));
    expect(errors.map((e) => `${e.name}: ${e.message}`)).toEqual([]);
    expect(ok.map((r: Loose) => r.step?.attempt).sort((a: number, b: number) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(new Set(ok.map((r: Loose) => r.step?.startedAt?.getTime())).size).toBe(1);
    expect((await world.steps.get(runId, stepId)).attempt).toBe(10);
    expect(count(await eventTypes(world, runId), 'step_started')).toBe(10);
  });

  must('step_started on an unknown step throws WorkflowWorldError', async ({ world }) => {
    const runId = await runningRun(world);
    await rejectsWithName(startStep(world, runId, newStepId()), 'WorkflowWorldError');
  });

  should('step events on an unknown step answer status 404', async ({ world }) => {
    const runId = await runningRun(world);
    expect((await rejection(startStep(world, runId, newStepId()))).status).toBe(404);
    expect((await rejection(completeStep(world, runId, newStepId()))).status).toBe(404);
    const failed = send(world, runId, { eventType: 'step_failed', correlationId: newStepId(), eventData: { error: 'x' } });
    expect((await rejection(failed)).status).toBe(404);
    const retrying = send(world, runId, { eventType: 'step_retrying', correlationId: newStepId(), eventData: { error: 'x' } });
    expect((await rejection(retrying)).status).toBe(404);
  });

  must('step_started on a completed or failed step throws EntityConflictError', async ({ world }) => {
    const runId = await runningRun(world);
    const done = await createStep(world, runId);
    await startStep(world, runId, done);
    await completeStep(world, runId, done);
    await rejectsWithName(startStep(world, runId, done), 'EntityConflictError', 'step_started on a completed step');
    const failed = await createStep(world, runId);
    await send(world, runId, { eventType: 'step_failed', correlationId: failed, eventData: { error: 'fatal' } });
    await rejectsWithName(startStep(world, runId, failed), 'EntityConflictError', 'step_started on a failed step');
  });

  must('step_started of a pending step on a finished run throws RunExpiredError', async ({ world }) => {
    const runId = await runningRun(world);
    const stepId = await createStep(world, runId);
    await send(world, runId, { eventType: 'run_cancelled' });
    await rejectsWithName(startStep(world, runId, stepId), 'RunExpiredError');
  });

  must('step_started before retryAfter throws TooEarlyError with retryAfter in whole seconds', async ({ world }) => {
    const runId = await runningRun(world);
    const stepId = await createStep(world, runId);
    await startStep(world, runId, stepId);
    const retryAfter = new Date(Date.now() + 30_000);
    await send(world, runId, { eventType: 'step_retrying', correlationId: stepId, eventData: { error: 'again', retryAfter } });
    const error = await rejectsWithName(startStep(world, runId, stepId), 'TooEarlyError');
    expect(typeof error.retryAfter).toBe('number');
    expect(Number.isInteger(error.retryAfter)).toBe(true);
    expect(error.retryAfter as number).toBeGreaterThanOrEqual(1);
    expect(error.retryAfter as number).toBeLessThanOrEqual(31);
    expect((await world.steps.get(runId, stepId)).status).toBe('pending');
  });

  must('step_started after retryAfter has passed is accepted and clears retryAfter', async ({ world }) => {
    const runId = await runningRun(world);
    const stepId = await createStep(world, runId);
    await startStep(world, runId, stepId);
    await send(world, runId, {
      eventType: 'step_retrying',
      correlationId: stepId,
      eventData: { error: 'again', retryAfter: new Date(Date.now() - 1000) },
    });
    const res = await startStep(world, runId, stepId);
    expect(res.step?.status).toBe('running');
    expect(res.step?.attempt).toBe(2);
    expect(res.step?.retryAfter ?? undefined).toBeUndefined();
  });

  must('step_completed sets completed, output and completedAt; the first terminal write wins', async ({ world }) => {
    const runId = await runningRun(world);
    const stepId = await createStep(world, runId);
    await startStep(world, runId, stepId);
    const res = await completeStep(world, runId, stepId, payload(5, 5));
    expect(res.step?.status).toBe('completed');
    expect(arr(res.step?.output)).toEqual(Array.from(payload(5, 5)));
    expect(res.step?.completedAt).toBeInstanceOf(Date);
    await rejectsWithName(completeStep(world, runId, stepId, payload(6)), 'EntityConflictError', 'second step_completed');
    await rejectsWithName(
      send(world, runId, { eventType: 'step_failed', correlationId: stepId, eventData: { error: 'late' } }),
      'EntityConflictError',
      'step_failed after step_completed',
    );
    await rejectsWithName(
      send(world, runId, { eventType: 'step_retrying', correlationId: stepId, eventData: { error: 'late' } }),
      'EntityConflictError',
      'step_retrying after step_completed',
    );
    const step = await world.steps.get(runId, stepId);
    expect(step.status).toBe('completed');
    expect(arr(step.output)).toEqual(Array.from(payload(5, 5)));
  });

  must('50 concurrent duplicate step_completed: exactly one wins, one step_completed event', async ({ world }) => {
    const runId = await runningRun(world);
    const stepId = await createStep(world, runId);
    await startStep(world, runId, stepId);
    const { ok, errors } = await settle(Array.from({ length: 50 }, (_, i) => completeStep(world, runId, stepId, payload(i))));
    expect(ok.length).toBe(1);
    expect(errors.map((e) => e.name)).toEqual(Array(49).fill('EntityConflictError'));
    const events = await allEvents(world, runId);
    const completions = events.filter((e) => e.eventType === 'step_completed');
    expect(completions.length).toBe(1);
    const step = await world.steps.get(runId, stepId);
    expect(arr(step.output)).toEqual(arr(dataOf(completions[0]).result));
  });

  must('step_completed of a running step is accepted after the run ended', async ({ world }) => {
    const runId = await runningRun(world);
    const stepId = await createStep(world, runId);
    await startStep(world, runId, stepId);
    await send(world, runId, { eventType: 'run_cancelled' });
    const res = await completeStep(world, runId, stepId);
    expect(res.step?.status).toBe('completed');
  });

  must('step_completed on an unknown step throws WorkflowWorldError', async ({ world }) => {
    const runId = await runningRun(world);
    await rejectsWithName(completeStep(world, runId, newStepId()), 'WorkflowWorldError');
  });

  must('step_failed sets failed with error { message, stack } from a string or an object error', async ({ world }) => {
    const runId = await runningRun(world);
    const a = await createStep(world, runId);
    await startStep(world, runId, a);
    const res = await send(world, runId, {
      eventType: 'step_failed',
      correlationId: a,
      eventData: { stepName, error: 'fatal: nope', stack: 'FatalError: nope\n    at step' },
    });
    expect(res.step?.status).toBe('failed');
    expect(res.step?.completedAt).toBeInstanceOf(Date);
    const stepA = await world.steps.get(runId, a);
    expect(stepA.error?.message).toBe('fatal: nope');
    expect(stepA.error?.stack).toBe('FatalError: nope\n    at step');
    const b = await createStep(world, runId);
    await send(world, runId, { eventType: 'step_failed', correlationId: b, eventData: { error: { message: 'object error' }, stack: 's' } });
    expect((await world.steps.get(runId, b)).error?.message).toBe('object error');
    await rejectsWithName(
      send(world, runId, { eventType: 'step_failed', correlationId: b, eventData: { error: 'again' } }),
      'EntityConflictError',
      'second step_failed',
    );
  });

  must('step_retrying sets pending, error and retryAfter (a Date), keeps attempt; absent retryAfter clears it', async ({ world }) => {
    const runId = await runningRun(world);
    const stepId = await createStep(world, runId);
    await startStep(world, runId, stepId);
    const retryAfter = new Date(Date.now() + 1500);
    const res = await send(world, runId, {
      eventType: 'step_retrying',
      correlationId: stepId,
      eventData: { stepName, error: 'transient', stack: 'Error: transient', retryAfter },
    });
    expect(res.step?.status).toBe('pending');
    expect(res.step?.attempt).toBe(1);
    const step = await world.steps.get(runId, stepId);
    expect(step.status).toBe('pending');
    expect(step.attempt).toBe(1);
    expect(step.error?.message).toBe('transient');
    expect(step.retryAfter).toBeInstanceOf(Date);
    expect(step.retryAfter?.getTime()).toBe(retryAfter.getTime());
    const ev = (await allEvents(world, runId)).find((e) => e.eventType === 'step_retrying');
    expect(dataOf(ev).retryAfter).toBeInstanceOf(Date);
    await send(world, runId, { eventType: 'step_retrying', correlationId: stepId, eventData: { error: 'again' } });
    expect((await world.steps.get(runId, stepId)).retryAfter ?? undefined).toBeUndefined();
  });

  must('steps.get works with runId undefined; an unknown step throws WorkflowWorldError', async ({ world }) => {
    const runId = await runningRun(world);
    const stepId = await createStep(world, runId);
    const step = await world.steps.get(undefined, stepId);
    expect(step.runId).toBe(runId);
    expect(step.stepId).toBe(stepId);
    await rejectsWithName(world.steps.get(runId, newStepId()), 'WorkflowWorldError', 'steps.get(runId, unknown)');
    await rejectsWithName(world.steps.get(undefined, newStepId()), 'WorkflowWorldError', 'steps.get(undefined, unknown)');
  });

  should('steps.get of an unknown step answers status 404', async ({ world }) => {
    const runId = await runningRun(world);
    expect((await rejection(world.steps.get(runId, newStepId()))).status).toBe(404);
  });

  must('steps.list returns the run’s steps; resolveData none drops input and output', async ({ world }) => {
    const runId = await runningRun(world);
    const other = await runningRun(world);
    const ids = [await createStep(world, runId), await createStep(world, runId), await createStep(world, runId)];
    await createStep(world, other);
    await startStep(world, runId, ids[0]!);
    await completeStep(world, runId, ids[0]!);
    const all = await world.steps.list({ runId });
    expect(all.data.map((s) => s.stepId).sort()).toEqual([...ids].sort());
    expect(all.data.every((s) => s.runId === runId)).toBe(true);
    const none = await world.steps.list({ runId, resolveData: 'none' });
    expect(none.data.length).toBe(3);
    for (const s of none.data) {
      expect((s as Loose).input).toBeUndefined();
      expect((s as Loose).output).toBeUndefined();
      expect(s.stepName).toBe(stepName);
    }
    const one = await world.steps.get(runId, ids[0]!, { resolveData: 'none' });
    expect((one as Loose).output).toBeUndefined();
    expect(one.status).toBe('completed');
  });

  must('step events on an unknown run are rejected', async ({ world }) => {
    await rejection(startStep(world, newRunId(), newStepId()), 'step_started on an unknown run');
    await rejection(completeStep(world, newRunId(), newStepId()), 'step_completed on an unknown run');
  });

  must('a step id is scoped to its run: the same step id in two runs gives two steps', async ({ world }) => {
    const a = await runningRun(world);
    const b = await runningRun(world);
    const stepId = newStepId();
    await createStep(world, a, stepId, payload(1));
    await createStep(world, b, stepId, payload(2));
    await startStep(world, a, stepId);
    expect((await world.steps.get(a, stepId)).attempt).toBe(1);
    expect((await world.steps.get(b, stepId)).attempt).toBe(0);
    expect(arr((await world.steps.get(b, stepId)).input)).toEqual(Array.from(payload(2)));
  });

}
