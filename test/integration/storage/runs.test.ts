import { describe, expect, test } from 'vitest';
import { testWorld } from '../../helpers/db.js';
import { bytes, createRun, dataOf, newRunIdForTest, rejection } from '../../helpers/runs.js';

const world = testWorld();

describe('run_created', () => {
  test('creates a pending run and its event, returning the requested id', async () => {
    const runId = newRunIdForTest();
    const input = bytes(1, 2, 3);
    const { run, event } = await world.events.create(runId, {
      eventType: 'run_created',
      eventData: { deploymentId: 'd1', workflowName: 'workflow//a//b', input, executionContext: { traceCarrier: { a: '1' }, workflowCoreVersion: '4.8.9' } },
    });
    expect(run).toMatchObject({ runId, status: 'pending', deploymentId: 'd1', workflowName: 'workflow//a//b', specVersion: 3, input });
    expect(run?.executionContext).toEqual({ traceCarrier: { a: '1' }, workflowCoreVersion: '4.8.9' });
    expect(run?.createdAt).toBeInstanceOf(Date);
    expect(run?.startedAt).toBeUndefined();
    expect(event).toMatchObject({ eventType: 'run_created', runId, specVersion: 3 });
    expect(event?.eventId).toMatch(/^wevt_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(event?.createdAt).toBeInstanceOf(Date);
  });

  test('mints a wrun_ id when the runId is null', async () => {
    const { run } = await world.events.create(null, {
      eventType: 'run_created',
      eventData: { deploymentId: 'd', workflowName: 'w', input: bytes() },
    });
    expect(run?.runId).toMatch(/^wrun_[0-9A-Z]{26}$/);
  });

  test('a duplicate run_created is an EntityConflictError (409) and writes nothing', async () => {
    const runId = await createRun(world);
    const error = await rejection(
      world.events.create(runId, { eventType: 'run_created', eventData: { deploymentId: 'd', workflowName: 'w', input: bytes() } }),
    );
    expect(error.name).toBe('EntityConflictError');
    expect(error.status).toBe(409);
    const { data } = await world.events.list({ runId });
    expect(data.map((e) => e.eventType)).toEqual(['run_created']);
  });

  test('a runId that is not a recent ULID is a 400 WorkflowWorldError', async () => {
    for (const bad of ['wrun_nope', 'wrun_00000000000000000000000000', 'wrun_7ZZZZZZZZZZZZZZZZZZZZZZZZZ']) {
      const error = await rejection(
        world.events.create(bad, { eventType: 'run_created', eventData: { deploymentId: 'd', workflowName: 'w', input: bytes() } }),
      );
      expect(error.name).toBe('WorkflowWorldError');
      expect(error.status).toBe(400);
    }
  });

  test('an invalid request is a 400 and hook_conflict cannot be created by callers', async () => {
    const runId = await createRun(world);
    const invalid = await rejection(world.events.create(runId, { eventType: 'step_created', correlationId: 's' } as never));
    expect(invalid).toMatchObject({ name: 'WorkflowWorldError', status: 400 });
    const conflict = await rejection(
      world.events.create(runId, { eventType: 'hook_conflict', correlationId: 'h', eventData: { token: 't' } } as never),
    );
    expect(conflict).toMatchObject({ name: 'WorkflowWorldError', status: 400 });
  });
});

describe('run_started', () => {
  test('pending → running sets startedAt once and is idempotent while running', async () => {
    const runId = await createRun(world);
    const first = await world.events.create(runId, { eventType: 'run_started' });
    expect(first.run?.status).toBe('running');
    expect(first.run?.startedAt).toBeInstanceOf(Date);
    expect(first.run?.input).toEqual(bytes(1));
    expect(first.event?.eventType).toBe('run_started');
    expect(first.event && 'eventData' in first.event).toBe(false);
    const again = await world.events.create(runId, { eventType: 'run_started' });
    expect(again.event).toBeUndefined();
    expect(again.run?.startedAt?.getTime()).toBe(first.run?.startedAt?.getTime());
    const read = await world.runs.get(runId);
    expect(read.startedAt?.getTime()).toBe(first.run?.startedAt?.getTime());
    const { data } = await world.events.list({ runId });
    expect(data.filter((e) => e.eventType === 'run_started')).toHaveLength(1);
  });

  test('concurrent starts of a pending run write one run_started and one startedAt', async () => {
    const runId = await createRun(world);
    const results = await Promise.all(Array.from({ length: 20 }, () => world.events.create(runId, { eventType: 'run_started' })));
    const startedAts = new Set(results.map((r) => r.run?.startedAt?.getTime()));
    expect(startedAts.size).toBe(1);
    const { data } = await world.events.list({ runId });
    expect(data.filter((e) => e.eventType === 'run_started')).toHaveLength(1);
  });

  test('a missing run is WorkflowRunNotFoundError (404) and writes nothing', async () => {
    const runId = newRunIdForTest();
    const error = await rejection(world.events.create(runId, { eventType: 'run_started' }));
    expect(error).toMatchObject({ name: 'WorkflowRunNotFoundError', status: 404 });
    expect((await rejection(world.runs.get(runId))).name).toBe('WorkflowRunNotFoundError');
  });

  test('a terminal run is RunExpiredError (410)', async () => {
    const runId = await createRun(world, { started: true });
    await world.events.create(runId, { eventType: 'run_completed', eventData: { output: bytes(9) } });
    const error = await rejection(world.events.create(runId, { eventType: 'run_started' }));
    expect(error).toMatchObject({ name: 'RunExpiredError', status: 410 });
    expect((await world.runs.get(runId)).status).toBe('completed');
  });

  test('resilient start creates the run and its run_created from the message data, once', async () => {
    const runId = newRunIdForTest();
    const input = bytes(4, 0, 4);
    const eventData = { deploymentId: 'd', workflowName: 'workflow//r', input, executionContext: { features: { a: true } } };
    const results = await Promise.allSettled([
      world.events.create(runId, { eventType: 'run_started', eventData }),
      world.events.create(runId, { eventType: 'run_started', eventData }),
      world.events.create(runId, { eventType: 'run_created', eventData }),
    ]);
    const created = results[2];
    if (created.status === 'rejected') expect((created.reason as Error).name).toBe('EntityConflictError');
    expect(results[0].status).toBe('fulfilled');
    expect(results[1].status).toBe('fulfilled');
    const run = await world.runs.get(runId);
    expect(run).toMatchObject({ status: 'running', input, workflowName: 'workflow//r', executionContext: { features: { a: true } } });
    const { data } = await world.events.list({ runId });
    expect(data.map((e) => e.eventType)).toEqual(['run_created', 'run_started']);
    expect(dataOf(data[0])).toMatchObject({ deploymentId: 'd', workflowName: 'workflow//r', input });
  });
});

describe('terminal run events', () => {
  test('run_completed stores the output, sets completedAt, and deletes hooks and waits', async () => {
    const runId = await createRun(world, { started: true });
    await world.events.create(runId, { eventType: 'hook_created', correlationId: 'hook_1', eventData: { token: `tok-${runId}` } });
    await world.events.create(runId, { eventType: 'wait_created', correlationId: 'wait_1', eventData: { resumeAt: new Date(Date.now() + 60_000) } });
    const { run, event } = await world.events.create(runId, { eventType: 'run_completed', eventData: { output: bytes(42) } });
    expect(run).toMatchObject({ status: 'completed', output: bytes(42) });
    expect(run?.completedAt).toBeInstanceOf(Date);
    expect(run?.updatedAt.getTime()).toBe(event?.createdAt.getTime());
    expect((await world.hooks.list({ runId })).data).toEqual([]);
    expect((await rejection(world.hooks.getByToken(`tok-${runId}`))).name).toBe('HookNotFoundError');
    const waitDone = await rejection(world.events.create(runId, { eventType: 'wait_completed', correlationId: 'wait_1' }));
    expect(waitDone.name).toBe('RunExpiredError');
    // the token is free again for another run
    const other = await createRun(world, { started: true });
    const reuse = await world.events.create(other, { eventType: 'hook_created', correlationId: 'hook_1', eventData: { token: `tok-${runId}` } });
    expect(reuse.hook?.runId).toBe(other);
  });

  test('run_failed builds the StructuredError from the error and errorCode', async () => {
    const runId = await createRun(world, { started: true });
    const { run } = await world.events.create(runId, {
      eventType: 'run_failed',
      eventData: { error: { message: 'boom \u0000 💥', stack: 'Error: boom\n    at x' }, errorCode: 'USER_ERROR' },
    });
    expect(run?.status).toBe('failed');
    expect(run?.error).toEqual({ message: 'boom \u0000 💥', stack: 'Error: boom\n    at x', code: 'USER_ERROR' });
    expect((await world.runs.get(runId)).error).toEqual(run?.error);
    const plain = await createRun(world);
    const fromString = await world.events.create(plain, { eventType: 'run_failed', eventData: { error: 'just text' } });
    expect(fromString.run?.error).toEqual({ message: 'just text' });
  });

  test('terminal runs refuse further terminal events with EntityConflictError', async () => {
    const runId = await createRun(world, { started: true });
    await world.events.create(runId, { eventType: 'run_completed', eventData: { output: bytes() } });
    for (const request of [
      { eventType: 'run_completed', eventData: { output: bytes() } },
      { eventType: 'run_failed', eventData: { error: 'x' } },
      { eventType: 'run_cancelled' },
    ] as const) {
      expect((await rejection(world.events.create(runId, request as never))).name).toBe('EntityConflictError');
    }
  });

  test('run_cancelled from pending, then again on the cancelled run succeeds', async () => {
    const runId = await createRun(world);
    const first = await world.events.create(runId, { eventType: 'run_cancelled' });
    expect(first.run?.status).toBe('cancelled');
    expect(first.run?.completedAt).toBeInstanceOf(Date);
    const second = await world.events.create(runId, { eventType: 'run_cancelled' });
    expect(second.run?.status).toBe('cancelled');
    expect(second.event?.eventType).toBe('run_cancelled');
  });

  test('missing run for terminal events is WorkflowRunNotFoundError', async () => {
    const error = await rejection(world.events.create(newRunIdForTest(), { eventType: 'run_cancelled' }));
    expect(error.name).toBe('WorkflowRunNotFoundError');
  });

  test('racing run_completed and run_failed leave exactly one terminal event', async () => {
    for (let trial = 0; trial < 10; trial++) {
      const runId = await createRun(world, { started: true });
      const results = await Promise.allSettled([
        world.events.create(runId, { eventType: 'run_completed', eventData: { output: bytes(1) } }),
        world.events.create(runId, { eventType: 'run_failed', eventData: { error: 'x' } }),
        world.events.create(runId, { eventType: 'run_completed', eventData: { output: bytes(2) } }),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.filter((r) => r.status === 'rejected');
      expect(rejected.map((r) => (r.reason as Error).name)).toEqual(['EntityConflictError', 'EntityConflictError']);
      const { data } = await world.events.list({ runId });
      expect(data.filter((e) => ['run_completed', 'run_failed'].includes(e.eventType))).toHaveLength(1);
    }
  });
});

describe('runs.get / runs.list', () => {
  test('resolveData none drops input and output but keeps the rest', async () => {
    const runId = await createRun(world, { started: true, input: bytes(5) });
    await world.events.create(runId, { eventType: 'run_completed', eventData: { output: bytes(6) } });
    const full = await world.runs.get(runId);
    expect(full.input).toEqual(bytes(5));
    expect(full.output).toEqual(bytes(6));
    const bare = await world.runs.get(runId, { resolveData: 'none' });
    expect(bare.input).toBeUndefined();
    expect(bare.output).toBeUndefined();
    expect(bare).toMatchObject({ runId, status: 'completed', workflowName: full.workflowName });
    expect(bare.completedAt?.getTime()).toBe(full.completedAt?.getTime());
  });

  test('filters by workflow name and status, honouring sortOrder', async () => {
    const name = `workflow//filter//${Date.now()}`;
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await createRun(world, { workflowName: name, started: i % 2 === 0 }));
    const all = await world.runs.list({ workflowName: name, pagination: { sortOrder: 'asc' } });
    expect(all.data.map((r) => r.runId)).toEqual(ids);
    const desc = await world.runs.list({ workflowName: name });
    expect(desc.data.map((r) => r.runId)).toEqual([...ids].reverse());
    const running = await world.runs.list({ workflowName: name, status: 'running', pagination: { sortOrder: 'asc' } });
    expect(running.data.map((r) => r.runId)).toEqual([ids[0], ids[2], ids[4]]);
    const none = await world.runs.list({ workflowName: name, resolveData: 'none' });
    expect(none.data.map((r) => r.runId)).toEqual([...ids].reverse());
    for (const r of none.data) expect(r.input).toBeUndefined();
  });
});
