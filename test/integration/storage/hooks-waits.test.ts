import { describe, expect, test } from 'vitest';
import { testWorld } from '../../helpers/db.js';
import { bytes, createRun, dataOf, newRunIdForTest, rejection } from '../../helpers/runs.js';

const world = testWorld();
const token = (label: string) => `${label}-${Math.random().toString(36).slice(2)}`;

describe('hooks', () => {
  test('hook_created makes a live hook readable by id, token and run; isWebhook round-trips false', async () => {
    const runId = await createRun(world, { started: true });
    const t = token('tok');
    const { hook, event } = await world.events.create(runId, {
      eventType: 'hook_created', correlationId: 'hook_a', eventData: { token: t, metadata: bytes(8, 0) },
    });
    expect(event?.eventType).toBe('hook_created');
    expect(hook).toMatchObject({ runId, hookId: 'hook_a', token: t, isWebhook: false, metadata: bytes(8, 0), specVersion: 3 });
    expect(hook?.ownerId).toBeTypeOf('string');
    expect(hook?.projectId).toBeTypeOf('string');
    expect(hook?.environment).toBeTypeOf('string');
    expect(await world.hooks.get('hook_a')).toMatchObject({ token: t, isWebhook: false });
    expect(await world.hooks.getByToken(t)).toMatchObject({ hookId: 'hook_a', runId });
    expect((await world.hooks.getByToken(t, { resolveData: 'none' })).metadata).toBeUndefined();
    expect((await world.hooks.list({ runId })).data.map((h) => h.hookId)).toEqual(['hook_a']);
    const webhook = await world.events.create(runId, {
      eventType: 'hook_created', correlationId: 'hook_w', eventData: { token: token('wh'), isWebhook: true },
    });
    expect(webhook.hook?.isWebhook).toBe(true);
  });

  test('unknown hooks are HookNotFoundError', async () => {
    expect(await rejection(world.hooks.get('hook_missing'))).toMatchObject({ name: 'HookNotFoundError', status: 404 });
    expect((await rejection(world.hooks.getByToken('no-such-token'))).name).toBe('HookNotFoundError');
    const runId = await createRun(world, { started: true });
    expect((await rejection(world.events.create(runId, { eventType: 'hook_received', correlationId: 'hook_missing', eventData: { payload: bytes() } }))).name).toBe('HookNotFoundError');
    expect((await rejection(world.events.create(runId, { eventType: 'hook_disposed', correlationId: 'hook_missing' }))).name).toBe('HookNotFoundError');
    expect((await rejection(world.events.create(newRunIdForTest(), { eventType: 'hook_received', correlationId: 'h', eventData: { payload: bytes() } }))).name).toBe('HookNotFoundError');
  });

  test('hook_received keeps the hook live; hook_disposed deletes it and releases the token', async () => {
    const runId = await createRun(world, { started: true });
    const t = token('recv');
    await world.events.create(runId, { eventType: 'hook_created', correlationId: 'hook_r', eventData: { token: t } });
    for (let i = 0; i < 3; i++) {
      const { event } = await world.events.create(runId, { eventType: 'hook_received', correlationId: 'hook_r', eventData: { token: t, payload: bytes(i) } });
      expect(dataOf(event)).toEqual({ token: t, payload: bytes(i) });
    }
    expect((await world.hooks.getByToken(t)).hookId).toBe('hook_r');
    await world.events.create(runId, { eventType: 'hook_disposed', correlationId: 'hook_r', eventData: { token: t } });
    expect((await rejection(world.hooks.getByToken(t))).name).toBe('HookNotFoundError');
    expect((await rejection(world.events.create(runId, { eventType: 'hook_received', correlationId: 'hook_r', eventData: { payload: bytes() } }))).name).toBe('HookNotFoundError');
    // the same hook id may not be created twice in a run, even after disposal
    expect((await rejection(world.events.create(runId, { eventType: 'hook_created', correlationId: 'hook_r', eventData: { token: t } }))).name).toBe('EntityConflictError');
  });

  test('hook_created on a missing or terminal run', async () => {
    expect((await rejection(world.events.create(newRunIdForTest(), { eventType: 'hook_created', correlationId: 'h', eventData: { token: token('m') } }))).name).toBe('WorkflowRunNotFoundError');
    const runId = await createRun(world, { started: true });
    await world.events.create(runId, { eventType: 'run_completed', eventData: { output: bytes() } });
    expect((await rejection(world.events.create(runId, { eventType: 'hook_created', correlationId: 'h', eventData: { token: token('t') } }))).name).toBe('EntityConflictError');
  });

  test('a token held by another run yields a recorded hook_conflict, not an error', async () => {
    const owner = await createRun(world, { started: true });
    const other = await createRun(world, { started: true });
    const t = token('shared');
    await world.events.create(owner, { eventType: 'hook_created', correlationId: 'hook_1', eventData: { token: t } });
    const result = await world.events.create(other, { eventType: 'hook_created', correlationId: 'hook_2', eventData: { token: t } });
    expect(result.hook).toBeUndefined();
    expect(result.event).toMatchObject({ eventType: 'hook_conflict', correlationId: 'hook_2', runId: other, eventData: { token: t, conflictingRunId: owner } });
    const { data } = await world.events.list({ runId: other });
    expect(data.map((e) => e.eventType)).toEqual(['run_created', 'run_started', 'hook_conflict']);
    // same run, another hook id: also a conflict
    const same = await world.events.create(owner, { eventType: 'hook_created', correlationId: 'hook_3', eventData: { token: t } });
    expect(same.event?.eventType).toBe('hook_conflict');
  });

  test('20 runs racing hook_created for one token: exactly one owner, the rest see hook_conflict', async () => {
    const t = token('race');
    const runs = await Promise.all(Array.from({ length: 20 }, () => createRun(world, { started: true })));
    const results = await Promise.all(
      runs.map((runId, i) => world.events.create(runId, { eventType: 'hook_created', correlationId: `hook_${i}`, eventData: { token: t } })),
    );
    const owners = results.filter((r) => r.event?.eventType === 'hook_created');
    expect(owners).toHaveLength(1);
    expect(results.filter((r) => r.event?.eventType === 'hook_conflict')).toHaveLength(19);
    const hook = await world.hooks.getByToken(t);
    expect(hook.runId).toBe(owners[0]?.hook?.runId);
    for (const r of results) if (r.event?.eventType === 'hook_conflict') expect((r.event.eventData as { conflictingRunId: string }).conflictingRunId).toBe(hook.runId);
  });

  test('long tokens (64 KiB) are unique through their digest', async () => {
    const long = 'x'.repeat(65_536);
    const a = await createRun(world, { started: true });
    const b = await createRun(world, { started: true });
    expect((await world.events.create(a, { eventType: 'hook_created', correlationId: 'h', eventData: { token: long } })).hook?.token).toBe(long);
    expect((await world.events.create(b, { eventType: 'hook_created', correlationId: 'h', eventData: { token: long } })).event?.eventType).toBe('hook_conflict');
    expect((await world.hooks.getByToken(long)).runId).toBe(a);
  });

  test('hook_received racing hook_disposed is ordered: no received after disposed', async () => {
    for (let trial = 0; trial < 10; trial++) {
      const runId = await createRun(world, { started: true });
      const t = token('order');
      await world.events.create(runId, { eventType: 'hook_created', correlationId: 'hook_o', eventData: { token: t } });
      await Promise.allSettled([
        world.events.create(runId, { eventType: 'hook_received', correlationId: 'hook_o', eventData: { payload: bytes(1) } }),
        world.events.create(runId, { eventType: 'hook_disposed', correlationId: 'hook_o' }),
        world.events.create(runId, { eventType: 'hook_received', correlationId: 'hook_o', eventData: { payload: bytes(2) } }),
      ]);
      const types = (await world.events.list({ runId })).data.map((e) => e.eventType);
      const disposedAt = types.indexOf('hook_disposed');
      expect(disposedAt).toBeGreaterThan(0);
      expect(types.slice(disposedAt + 1)).not.toContain('hook_received');
    }
  });
});

describe('waits', () => {
  test('wait_created → wait_completed exactly once', async () => {
    const runId = await createRun(world, { started: true });
    const resumeAt = new Date(Date.now() + 1_000);
    const created = await world.events.create(runId, { eventType: 'wait_created', correlationId: 'wait_a', eventData: { resumeAt } });
    expect(created.wait).toMatchObject({ waitId: `${runId}-wait_a`, runId, status: 'waiting', specVersion: 3 });
    expect(created.wait?.resumeAt?.getTime()).toBe(resumeAt.getTime());
    expect(dataOf((await world.events.list({ runId })).data.at(-1)).resumeAt).toBeInstanceOf(Date);
    expect((await rejection(world.events.create(runId, { eventType: 'wait_created', correlationId: 'wait_a', eventData: { resumeAt } }))).name).toBe('EntityConflictError');
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, () => world.events.create(runId, { eventType: 'wait_completed', correlationId: 'wait_a' })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect((r.reason as Error).name).toBe('EntityConflictError');
    const done = results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<Awaited<ReturnType<typeof world.events.create>>>;
    expect(done.value.wait).toMatchObject({ status: 'completed' });
    expect(done.value.wait?.completedAt).toBeInstanceOf(Date);
  });

  test('wait errors: missing wait 404, missing run, terminal run', async () => {
    const runId = await createRun(world, { started: true });
    expect(await rejection(world.events.create(runId, { eventType: 'wait_completed', correlationId: 'wait_x' }))).toMatchObject({ name: 'WorkflowWorldError', status: 404 });
    expect((await rejection(world.events.create(newRunIdForTest(), { eventType: 'wait_created', correlationId: 'w', eventData: { resumeAt: new Date() } }))).name).toBe('WorkflowRunNotFoundError');
    await world.events.create(runId, { eventType: 'run_cancelled' });
    expect((await rejection(world.events.create(runId, { eventType: 'wait_created', correlationId: 'w', eventData: { resumeAt: new Date() } }))).name).toBe('EntityConflictError');
  });
});
