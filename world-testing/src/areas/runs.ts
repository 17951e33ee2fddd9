import { expect } from 'vitest';
import type { Area } from '../area.js';
import {
  allEvents,
  count,
  createHook,
  createRun,
  createWait,
  eventTypes,
  runningRun,
  send,
  SPEC,
  startRun,
  workflowName,
} from '../fixtures.js';
import {
  arr,
  dataOf,
  type Loose,
  newHookId,
  newRunId,
  newWaitId,
  nonce,
  payload,
  rejection,
  rejectsWithName,
  settle,
  ulidTime,
} from '../util.js';

/** docs/world-contract.md §2.2, §3.1 (run state machine), §3.2 run_* events, §6.4. */
export function runsArea({ must, should }: Area): void {
  must('run_created with a client id creates a pending run and returns { event, run }', async ({ world }) => {
    const runId = newRunId();
    const name = workflowName();
    const executionContext = { traceCarrier: { traceparent: '00-abc-def-01' }, workflowCoreVersion: '4.8.9', features: { encryption: false } };
    const res = await world.events.create(runId, {
      eventType: 'run_created',
      specVersion: SPEC,
      eventData: { deploymentId: 'dpl_x', workflowName: name, input: payload(1, 2), executionContext },
    } as Loose);
    expect(res.run?.runId).toBe(runId);
    expect(res.run?.status).toBe('pending');
    expect(res.run?.workflowName).toBe(name);
    expect(res.run?.deploymentId).toBe('dpl_x');
    expect(arr(res.run?.input)).toEqual(Array.from(payload(1, 2)));
    expect(res.run?.executionContext).toEqual(executionContext);
    expect(res.run?.startedAt).toBeUndefined();
    expect(res.run?.completedAt).toBeUndefined();
    expect(res.run?.createdAt).toBeInstanceOf(Date);
    expect(res.run?.updatedAt).toBeInstanceOf(Date);
    expect(res.event?.eventType).toBe('run_created');
    expect(res.event?.runId).toBe(runId);
    expect(typeof res.event?.eventId).toBe('string');
    expect(res.event?.createdAt).toBeInstanceOf(Date);
    expect(res.event?.specVersion).toBe(SPEC);
    expect(arr(dataOf(res.event).input)).toEqual(Array.from(payload(1, 2)));
    const got = await world.runs.get(runId);
    expect(got.status).toBe('pending');
    expect(got.specVersion).toBe(SPEC);
    expect(got.executionContext).toEqual(executionContext);
  });

  must('run_created with runId null generates a wrun_<ULID> id', async ({ world }) => {
    const res = await world.events.create(null, {
      eventType: 'run_created',
      specVersion: SPEC,
      eventData: { deploymentId: 'dpl_x', workflowName: workflowName(), input: payload(1) },
    } as Loose);
    const runId = res.run?.runId ?? '';
    expect(runId).toMatch(/^wrun_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(Math.abs(ulidTime(runId) - Date.now())).toBeLessThan(10 * 60_000);
    expect((await world.runs.get(runId)).status).toBe('pending');
  });

  must('run_created rejects a run id that is not a recent wrun_ ULID with WorkflowWorldError', async ({ world }) => {
    const data = { deploymentId: 'dpl_x', workflowName: workflowName(), input: payload(1) };
    for (const bad of ['not-a-run-id', `wrun_${'0'.repeat(26)}`, newRunId(Date.now() - 3 * 86_400_000)]) {
      await rejectsWithName(send(world, bad, { eventType: 'run_created', eventData: data }), 'WorkflowWorldError', `run_created(${bad})`);
    }
  });

  should('run_created with an invalid run id answers status 400', async ({ world }) => {
    const data = { deploymentId: 'dpl_x', workflowName: workflowName(), input: payload(1) };
    const error = await rejection(send(world, 'wrun_bogus', { eventType: 'run_created', eventData: data }));
    expect(error.status).toBe(400);
  });

  must('a duplicate run_created throws EntityConflictError and writes nothing', async ({ world }) => {
    const runId = await createRun(world, { input: payload(1) });
    await rejectsWithName(
      send(world, runId, { eventType: 'run_created', eventData: { deploymentId: 'other', workflowName: 'other', input: payload(2) } }),
      'EntityConflictError',
    );
    const run = await world.runs.get(runId);
    expect(run.deploymentId).toBe('dpl_conformance');
    expect(arr(run.input)).toEqual(Array.from(payload(1)));
    expect(count(await eventTypes(world, runId), 'run_created')).toBe(1);
  });

  must('runs.get of an unknown run throws WorkflowRunNotFoundError', async ({ world }) => {
    await rejectsWithName(world.runs.get(newRunId()), 'WorkflowRunNotFoundError');
  });

  must('run_started moves pending → running, sets startedAt, returns the full input, appends one run_started', async ({ world }) => {
    const input = payload(5, 6, 7);
    const runId = await createRun(world, { input });
    const res = await send(world, runId, { eventType: 'run_started' });
    expect(res.run?.status).toBe('running');
    expect(res.run?.startedAt).toBeInstanceOf(Date);
    expect(arr(res.run?.input)).toEqual(Array.from(input));
    const events = await allEvents(world, runId);
    expect(events.map((e) => e.eventType)).toEqual(['run_created', 'run_started']);
    expect((await world.runs.get(runId)).startedAt?.getTime()).toBe(res.run.startedAt.getTime());
  });

  must('run_started on a running run is an idempotent success: no new event, startedAt unchanged', async ({ world }) => {
    const runId = await createRun(world);
    const first = await send(world, runId, { eventType: 'run_started' });
    const second = await send(world, runId, { eventType: 'run_started' });
    expect(second.run?.status).toBe('running');
    expect(second.run?.startedAt?.getTime()).toBe(first.run.startedAt.getTime());
    expect(count(await eventTypes(world, runId), 'run_started')).toBe(1);
  });

  must('run_started on a terminal run throws RunExpiredError', async ({ world }) => {
    const runId = await runningRun(world);
    await send(world, runId, { eventType: 'run_completed', eventData: { output: payload(1) } });
    await rejectsWithName(send(world, runId, { eventType: 'run_started' }), 'RunExpiredError');
    expect((await world.runs.get(runId)).status).toBe('completed');
  });

  must('run_started on an unknown run without creation data throws WorkflowRunNotFoundError and writes nothing', async ({ world }) => {
    const runId = newRunId();
    await rejectsWithName(send(world, runId, { eventType: 'run_started' }), 'WorkflowRunNotFoundError');
    await rejectsWithName(world.runs.get(runId), 'WorkflowRunNotFoundError');
  });

  must('resilient start: run_started with creation data creates the run, its run_created and run_started', async ({ world }) => {
    const runId = newRunId();
    const name = workflowName();
    const input = payload(42);
    const res = await send(world, runId, {
      eventType: 'run_started',
      eventData: { deploymentId: 'dpl_r', workflowName: name, input, executionContext: { a: 1 } },
    });
    expect(res.run?.status).toBe('running');
    expect(res.run?.startedAt).toBeInstanceOf(Date);
    expect(arr(res.run?.input)).toEqual(Array.from(input));
    const run = await world.runs.get(runId);
    expect(run.workflowName).toBe(name);
    expect(run.deploymentId).toBe('dpl_r');
    expect(run.executionContext).toEqual({ a: 1 });
    const events = await allEvents(world, runId);
    expect(events.map((e) => e.eventType)).toEqual(['run_created', 'run_started']);
    expect(arr(dataOf(events[0]).input)).toEqual(Array.from(input));
    // start()'s own run_created arriving late is a conflict (start() treats it as success)
    await rejectsWithName(
      send(world, runId, { eventType: 'run_created', eventData: { deploymentId: 'dpl_r', workflowName: name, input } }),
      'EntityConflictError',
    );
  });

  must('resilient start racing run_created: one run, one run_created, one run_started (10 trials)', async ({ world }) => {
    for (let trial = 0; trial < 10; trial++) {
      const runId = newRunId();
      const data = { deploymentId: 'dpl_r', workflowName: workflowName(), input: payload(trial) };
      const [created, started] = await Promise.allSettled([
        send(world, runId, { eventType: 'run_created', eventData: data }),
        send(world, runId, { eventType: 'run_started', eventData: data }),
      ]);
      if (created.status === 'rejected') expect((created.reason as Loose)?.name).toBe('EntityConflictError');
      expect(started.status, `trial ${trial}: run_started must succeed (${String((started as Loose).reason)})`).toBe('fulfilled');
      const types = await eventTypes(world, runId);
      expect(count(types, 'run_created'), `trial ${trial}: ${types}`).toBe(1);
      expect(count(types, 'run_started'), `trial ${trial}: ${types}`).toBe(1);
      expect((await world.runs.get(runId)).status).toBe('running');
    }
  });

  must('20 concurrent run_started on a pending run: one run_started event, one startedAt for all', async ({ world }) => {
    const runId = await createRun(world);
    const { ok, errors } = await settle(Array.from({ length: 20 }, () => send(world, runId, { eventType: 'run_started' })));
    expect(errors.map((e) => `${e.name}: ${e.message}`)).toEqual([]);
    const startedAts = new Set(ok.map((r: Loose) => r.run?.startedAt?.getTime()));
    expect(startedAts.size).toBe(1);
    expect(count(await eventTypes(world, runId), 'run_started')).toBe(1);
    const run = await world.runs.get(runId);
    expect(startedAts.has(run.startedAt?.getTime())).toBe(true);
  });

  must('startedAt never changes: identical milliseconds on every read and after later events', async ({ world }) => {
    const runId = await runningRun(world);
    const first = (await world.runs.get(runId)).startedAt?.getTime();
    expect(typeof first).toBe('number');
    await send(world, runId, { eventType: 'run_started' });
    await createHook(world, runId, newHookId(), `tok-${nonce()}`);
    for (let i = 0; i < 3; i++) expect((await world.runs.get(runId)).startedAt?.getTime()).toBe(first);
    const listed = await world.runs.list({ workflowName: (await world.runs.get(runId)).workflowName });
    expect(listed.data.find((r) => r.runId === runId)?.startedAt?.getTime()).toBe(first);
    await send(world, runId, { eventType: 'run_completed', eventData: { output: payload(1) } });
    expect((await world.runs.get(runId)).startedAt?.getTime()).toBe(first);
  });

  must('run_completed sets completed, output and completedAt; the run then satisfies the terminal shape', async ({ world }) => {
    const runId = await runningRun(world);
    const res = await send(world, runId, { eventType: 'run_completed', eventData: { output: payload(8, 9) } });
    expect(res.event?.eventType).toBe('run_completed');
    expect(res.run?.status).toBe('completed');
    expect(arr(res.run?.output)).toEqual(Array.from(payload(8, 9)));
    expect(res.run?.completedAt).toBeInstanceOf(Date);
    const run = await world.runs.get(runId);
    expect(run.status).toBe('completed');
    expect(arr(run.output)).toEqual(Array.from(payload(8, 9)));
    expect(run.completedAt).toBeInstanceOf(Date);
    expect(run.updatedAt.getTime()).toBeGreaterThanOrEqual(run.createdAt.getTime());
  });

  must('run_failed stores error { message, stack, code: errorCode } from an object or a string error', async ({ world }) => {
    const a = await runningRun(world);
    const res = await send(world, a, {
      eventType: 'run_failed',
      eventData: { error: { message: 'boom', stack: 'Error: boom\n    at x' }, errorCode: 'USER_ERROR' },
    });
    expect(res.run?.status).toBe('failed');
    expect(res.run?.completedAt).toBeInstanceOf(Date);
    const run = await world.runs.get(a);
    expect(run.error?.message).toBe('boom');
    expect(run.error?.stack).toBe('Error: boom\n    at x');
    expect(run.error?.code).toBe('USER_ERROR');
    const b = await runningRun(world);
    await send(world, b, { eventType: 'run_failed', eventData: { error: 'plain text failure', errorCode: 'RUNTIME_ERROR' } });
    const runB = await world.runs.get(b);
    expect(runB.error?.message).toBe('plain text failure');
    expect(runB.error?.code).toBe('RUNTIME_ERROR');
  });

  must('run_cancelled cancels a pending or a running run and sets completedAt', async ({ world }) => {
    const pending = await createRun(world);
    const running = await runningRun(world);
    for (const runId of [pending, running]) {
      const res = await send(world, runId, { eventType: 'run_cancelled' });
      expect(res.run?.status).toBe('cancelled');
      const run = await world.runs.get(runId);
      expect(run.status).toBe('cancelled');
      expect(run.completedAt).toBeInstanceOf(Date);
    }
  });

  must('run_cancelled on an already cancelled run succeeds and returns { event, run }', async ({ world }) => {
    const runId = await runningRun(world);
    await send(world, runId, { eventType: 'run_cancelled' });
    const again = await send(world, runId, { eventType: 'run_cancelled' });
    expect(again.run?.status).toBe('cancelled');
    expect(again.event?.eventType).toBe('run_cancelled');
  });

  must('run_completed and run_failed are accepted from pending', async ({ world }) => {
    const a = await createRun(world);
    expect((await send(world, a, { eventType: 'run_completed', eventData: { output: payload(1) } })).run?.status).toBe('completed');
    const b = await createRun(world);
    expect((await send(world, b, { eventType: 'run_failed', eventData: { error: { message: 'x' } } })).run?.status).toBe('failed');
  });

  must('terminal is final: every terminal event on a finished run throws EntityConflictError', async ({ world }) => {
    const finish = {
      completed: { eventType: 'run_completed', eventData: { output: payload(1) } },
      failed: { eventType: 'run_failed', eventData: { error: { message: 'x' } } },
      cancelled: { eventType: 'run_cancelled' },
    } as const;
    for (const [state, ev] of Object.entries(finish)) {
      const runId = await runningRun(world);
      await send(world, runId, ev);
      for (const [other, ev2] of Object.entries(finish)) {
        if (state === 'cancelled' && other === 'cancelled') continue;
        await rejectsWithName(send(world, runId, ev2), 'EntityConflictError', `${ev2.eventType} on a ${state} run`);
      }
      expect((await world.runs.get(runId)).status).toBe(state);
    }
  });

  must('terminal events on an unknown run throw WorkflowRunNotFoundError', async ({ world }) => {
    for (const ev of [
      { eventType: 'run_completed', eventData: { output: payload(1) } },
      { eventType: 'run_failed', eventData: { error: { message: 'x' } } },
      { eventType: 'run_cancelled' },
    ]) {
      await rejectsWithName(send(world, newRunId(), ev), 'WorkflowRunNotFoundError', ev.eventType);
    }
  });

  must('a terminal run event deletes the run’s hooks (token released) and waits in the same step', async ({ world }) => {
    for (const ev of [
      { eventType: 'run_completed', eventData: { output: payload(1) } },
      { eventType: 'run_failed', eventData: { error: { message: 'x' } } },
      { eventType: 'run_cancelled' },
    ]) {
      const runId = await runningRun(world);
      const token = `tok-${nonce()}`;
      const hookId = newHookId();
      const waitId = newWaitId();
      await createHook(world, runId, hookId, token);
      await createWait(world, runId, waitId, new Date(Date.now() + 60_000));
      await send(world, runId, ev);
      await rejectsWithName(world.hooks.getByToken(token), 'HookNotFoundError', `getByToken after ${ev.eventType}`);
      await rejectsWithName(world.hooks.get(hookId), 'HookNotFoundError', `hooks.get after ${ev.eventType}`);
      expect((await world.hooks.list({ runId })).data).toEqual([]);
      await rejection(send(world, runId, { eventType: 'wait_completed', correlationId: waitId }), 'wait_completed after the run ended');
      // the token is free for another run
      const other = await runningRun(world);
      const res = await createHook(world, other, newHookId(), token);
      expect(res.event?.eventType).toBe('hook_created');
    }
  });

  must('racing terminal events: exactly one wins, one terminal event in the log (10 trials)', async ({ world }) => {
    for (let trial = 0; trial < 10; trial++) {
      const runId = await runningRun(world);
      const outcomes = await Promise.allSettled([
        send(world, runId, { eventType: 'run_completed', eventData: { output: payload(1) } }),
        send(world, runId, { eventType: 'run_failed', eventData: { error: { message: 'x' } } }),
        send(world, runId, { eventType: 'run_cancelled' }),
        send(world, runId, { eventType: 'run_completed', eventData: { output: payload(2) } }),
      ]);
      const winners = outcomes.filter((o) => o.status === 'fulfilled');
      const losers = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
      expect(losers.map((l) => (l.reason as Loose)?.name)).toEqual(losers.map(() => 'EntityConflictError'));
      expect(winners.length, `trial ${trial}`).toBe(1);
      const types = await eventTypes(world, runId);
      const terminal = types.filter((t) => t === 'run_completed' || t === 'run_failed' || t === 'run_cancelled');
      expect(terminal.length, `trial ${trial}: ${types}`).toBe(1);
      const status = (await world.runs.get(runId)).status;
      expect(`run_${status}`).toBe(terminal[0]);
    }
  });

  must('run_started racing a terminal event never moves a finished run back to running (10 trials)', async ({ world }) => {
    for (let trial = 0; trial < 10; trial++) {
      const runId = await createRun(world);
      await Promise.allSettled([
        send(world, runId, { eventType: 'run_cancelled' }),
        send(world, runId, { eventType: 'run_started' }),
        send(world, runId, { eventType: 'run_started' }),
      ]);
      const run = await world.runs.get(runId);
      expect(run.status, `trial ${trial}`).toBe('cancelled');
      const types = await eventTypes(world, runId);
      expect(types.at(-1), `trial ${trial}: ${types}`).toBe('run_cancelled');
      expect(count(types, 'run_started')).toBeLessThanOrEqual(1);
    }
  });

  must('runs.list filters by workflowName and status; resolveData none drops input and output', async ({ world }) => {
    const name = workflowName();
    const a = await createRun(world, { workflowName: name, input: payload(1) });
    const b = await runningRun(world, { workflowName: name });
    const c = await runningRun(world, { workflowName: name });
    await send(world, c, { eventType: 'run_completed', eventData: { output: payload(3) } });
    await createRun(world); // another workflow
    const all = await world.runs.list({ workflowName: name });
    expect(all.data.map((r) => r.runId).sort()).toEqual([a, b, c].sort());
    const running = await world.runs.list({ workflowName: name, status: 'running' });
    expect(running.data.map((r) => r.runId)).toEqual([b]);
    const pendingAnyName = await world.runs.list({ status: 'pending', pagination: { limit: 1000 } });
    expect(pendingAnyName.data.map((r) => r.runId)).toContain(a);
    for (const r of pendingAnyName.data) expect(r.status).toBe('pending');
    const none = await world.runs.list({ workflowName: name, resolveData: 'none' });
    expect(none.data.map((r) => r.runId).sort()).toEqual([a, b, c].sort());
    for (const r of none.data) {
      expect((r as Loose).input).toBeUndefined();
      expect((r as Loose).output).toBeUndefined();
      expect(r.workflowName).toBe(name);
      expect(r.createdAt).toBeInstanceOf(Date);
    }
    const full = await world.runs.get(c, { resolveData: 'none' });
    expect((full as Loose).output).toBeUndefined();
    expect((full as Loose).input).toBeUndefined();
    expect(full.status).toBe('completed');
    expect(full.completedAt).toBeInstanceOf(Date);
  });

  must('the World declares a numeric specVersion no greater than 3 (read synchronously)', async ({ world }) => {
    const v = world.specVersion;
    expect(v === undefined || (Number.isInteger(v) && v >= 1 && v <= 3)).toBe(true);
  });

  should('the World declares specVersion 3 (runInput in the first queue message, CBOR-safe transport)', async ({ world }) => {
    expect(world.specVersion).toBe(3);
  });

  should('events on a run stamped with a newer specVersion throw RunNotSupportedError', async ({ world }) => {
    const runId = newRunId();
    let created = true;
    try {
      await world.events.create(runId, {
        eventType: 'run_created',
        specVersion: 4,
        eventData: { deploymentId: 'dpl', workflowName: workflowName(), input: payload(1) },
      } as Loose);
    } catch (error) {
      created = false;
      expect((error as Loose).name).toBe('RunNotSupportedError');
    }
    if (created) await rejectsWithName(startRun(world, runId), 'RunNotSupportedError');
  });

  must('getDeploymentId returns the same non-empty string on every call', async ({ world }) => {
    const a = await world.getDeploymentId();
    const b = await world.getDeploymentId();
    expect(typeof a).toBe('string');
    expect(a.length).toBeGreaterThan(0);
    expect(b).toBe(a);
  });
}
