import { describe, expect, test } from 'vitest';
import { testWorld } from '../../helpers/db.js';
import { bytes, createRun, createStep, dataOf, rejection } from '../../helpers/runs.js';

const world = testWorld();

/** Follows cursors with the given page size and returns every item id in order. */
async function collect<T>(
  fetch: (cursor: string | undefined) => Promise<{ data: T[]; cursor: string | null; hasMore: boolean }>,
  id: (item: T) => string,
): Promise<string[]> {
  const ids: string[] = [];
  const cursors = new Set<string>();
  let cursor: string | undefined;
  for (;;) {
    const page = await fetch(cursor);
    ids.push(...page.data.map(id));
    if (page.data.length === 0) expect(page.cursor).toBeNull();
    else expect(page.cursor).not.toBeNull();
    if (!page.hasMore) return ids;
    expect(page.cursor).not.toBeNull();
    expect(cursors.has(page.cursor as string)).toBe(false);
    cursors.add(page.cursor as string);
    cursor = page.cursor as string;
  }
}

describe('pagination', () => {
  test('events, steps and runs: random page sizes reconstruct the full list once, in order, both directions', async () => {
    const workflowName = `workflow//paging//${Date.now()}`;
    const runIds: string[] = [];
    for (let i = 0; i < 23; i++) runIds.push(await createRun(world, { workflowName }));
    const runId = runIds[0] as string;
    await world.events.create(runId, { eventType: 'run_started' });
    const stepIds: string[] = [];
    for (let i = 0; i < 37; i++) stepIds.push(await createStep(world, runId, `step_${String(i).padStart(3, '0')}`));
    const allEvents = (await world.events.list({ runId, pagination: { limit: 1000 } })).data.map((e) => e.eventId);
    expect(allEvents).toHaveLength(39);

    for (let trial = 0; trial < 8; trial++) {
      const limit = 1 + Math.floor(Math.random() * 12);
      for (const sortOrder of ['asc', 'desc'] as const) {
        const events = await collect((cursor) => world.events.list({ runId, pagination: { limit, cursor, sortOrder } }), (e) => e.eventId);
        expect(events).toEqual(sortOrder === 'asc' ? allEvents : [...allEvents].reverse());
        const steps = await collect((cursor) => world.steps.list({ runId, pagination: { limit, cursor, sortOrder } }), (s) => s.stepId);
        expect(steps).toEqual(sortOrder === 'asc' ? stepIds : [...stepIds].reverse());
        const runs = await collect((cursor) => world.runs.list({ workflowName, pagination: { limit, cursor, sortOrder } }), (r) => r.runId);
        expect(runs).toEqual(sortOrder === 'asc' ? runIds : [...runIds].reverse());
      }
    }
  });

  test('defaults: events ascending, runs and steps descending, hooks ascending', async () => {
    const runId = await createRun(world, { started: true });
    await createStep(world, runId, 'step_1');
    await createStep(world, runId, 'step_2');
    expect((await world.events.list({ runId })).data.map((e) => e.eventType)).toEqual(['run_created', 'run_started', 'step_created', 'step_created']);
    expect((await world.steps.list({ runId })).data.map((s) => s.stepId)).toEqual(['step_2', 'step_1']);
    for (const h of ['hook_1', 'hook_2']) {
      await world.events.create(runId, { eventType: 'hook_created', correlationId: h, eventData: { token: `${runId}-${h}` } });
    }
    expect((await world.hooks.list({ runId })).data.map((h) => h.hookId)).toEqual(['hook_1', 'hook_2']);
  });

  test('default page sizes: runs 20, steps 20, hooks 100, events 1000', async () => {
    const workflowName = `workflow//page-sizes//${Date.now()}`;
    for (let i = 0; i < 21; i++) await createRun(world, { workflowName });
    const runs = await world.runs.list({ workflowName });
    expect(runs).toMatchObject({ hasMore: true });
    expect(runs.data).toHaveLength(20);
    const runId = await createRun(world, { started: true });
    for (let i = 0; i < 21; i++) await createStep(world, runId, `step_${i}`);
    const steps = await world.steps.list({ runId });
    expect(steps.data).toHaveLength(20);
    expect(steps.hasMore).toBe(true);
    for (let i = 0; i < 101; i++) {
      await world.events.create(runId, { eventType: 'hook_created', correlationId: `hook_${i}`, eventData: { token: `${runId}-size-${i}` } });
    }
    const hooks = await world.hooks.list({ runId });
    expect(hooks.data).toHaveLength(100);
    expect(hooks.hasMore).toBe(true);
    // 2 run events + 21 step_created + 101 hook_created so far: 876 waits make 1000, one more spills over
    for (let i = 0; i < 877; i++) {
      await world.events.create(runId, { eventType: 'wait_created', correlationId: `wait_${i}`, eventData: { resumeAt: new Date(Date.now() + 3_600_000) } });
    }
    const events = await world.events.list({ runId });
    expect(events.data).toHaveLength(1000);
    expect(events.hasMore).toBe(true);
    expect((await world.events.list({ runId, pagination: { cursor: events.cursor! } })).data).toHaveLength(1);
  });

  test('the last page keeps a cursor that later returns only newer events; empty pages have hasMore false', async () => {
    const runId = await createRun(world, { started: true });
    const first = await world.events.list({ runId });
    expect(first.hasMore).toBe(false);
    expect(first.cursor).not.toBeNull();
    const empty = await world.events.list({ runId, pagination: { cursor: first.cursor as string } });
    expect(empty).toEqual({ data: [], cursor: null, hasMore: false });
    await createStep(world, runId, 'step_late');
    const newer = await world.events.list({ runId, pagination: { cursor: first.cursor as string } });
    expect(newer.data.map((e) => e.correlationId)).toEqual(['step_late']);
  });

  test('a limit is clamped to 1..1000 and hasMore is exact', async () => {
    const runId = await createRun(world, { started: true });
    const exact = await world.events.list({ runId, pagination: { limit: 2 } });
    expect(exact.data).toHaveLength(2);
    expect(exact.hasMore).toBe(false);
    const one = await world.events.list({ runId, pagination: { limit: 0 } });
    expect(one.data).toHaveLength(1);
    expect(one.hasMore).toBe(true);
    const big = await world.events.list({ runId, pagination: { limit: 5000 } });
    expect(big.data).toHaveLength(2);
  });

  test('an invalid or foreign cursor is a 400 WorkflowWorldError', async () => {
    const runId = await createRun(world, { started: true });
    const runsCursor = (await world.runs.list({ pagination: { limit: 1 } })).cursor as string;
    for (const cursor of ['garbage', runsCursor, 'e.' + Buffer.from('1; drop table x').toString('base64url')]) {
      expect(await rejection(world.events.list({ runId, pagination: { cursor } }))).toMatchObject({ name: 'WorkflowWorldError', status: 400 });
    }
    expect(await rejection(world.steps.list({ runId, pagination: { cursor: 'nope' } }))).toMatchObject({ status: 400 });
  });

  test('listByCorrelationId filters by correlation id and run, ascending', async () => {
    const a = await createRun(world, { started: true });
    const b = await createRun(world, { started: true });
    for (const runId of [a, b]) {
      await createStep(world, runId, 'step_shared');
      await world.events.create(runId, { eventType: 'step_started', correlationId: 'step_shared' });
    }
    const both = await world.events.listByCorrelationId({ correlationId: 'step_shared' });
    expect(both.data.length).toBeGreaterThanOrEqual(4);
    const onlyA = await world.events.listByCorrelationId({ correlationId: 'step_shared', runId: a });
    expect(onlyA.data.map((e) => [e.runId, e.eventType])).toEqual([[a, 'step_created'], [a, 'step_started']]);
    const bare = await world.events.listByCorrelationId({ correlationId: 'step_shared', runId: a, resolveData: 'none' });
    expect(dataOf(bare.data[0])).toEqual({ stepName: 'step//test//fn' });
  });

  test('events.get returns one event, 404 for unknown ids; resolveData none strips only payload keys', async () => {
    const runId = await createRun(world, { started: true });
    const { event } = await world.events.create(runId, { eventType: 'step_created', correlationId: 'step_g', eventData: { stepName: 'n', input: bytes(1) } });
    const got = await world.events.get(runId, event?.eventId as string);
    expect(got).toMatchObject({ eventId: event?.eventId, eventType: 'step_created', eventData: { stepName: 'n', input: bytes(1) } });
    expect(dataOf(await world.events.get(runId, event?.eventId as string, { resolveData: 'none' }))).toEqual({ stepName: 'n' });
    expect(await rejection(world.events.get(runId, 'wevt_nope'))).toMatchObject({ name: 'WorkflowWorldError', status: 404 });
    const created = (await world.events.list({ runId, resolveData: 'none' })).data[0];
    expect(dataOf(created)).toEqual({ deploymentId: 'dpl_test', workflowName: 'workflow//test//wf' });
  });
});

describe('read parameter validation', () => {
  test('malformed parameters are a 400 naming the field', async () => {
    const bad = [
      world.runs.list({ status: 'sleeping' as never }),
      world.runs.list({ pagination: { sortOrder: 'sideways' as never } }),
      world.events.list({ runId: '' }),
      world.steps.list({ runId: 'wrun_x', pagination: { limit: 'ten' as never } }),
      world.runs.get('wrun_x', { resolveData: 'some' as never }),
    ];
    for (const call of bad) expect(await rejection(call)).toMatchObject({ name: 'WorkflowWorldError', status: 400 });
    expect((await rejection(world.runs.list({ status: 'sleeping' as never }))).message).toContain('status');
  });
});
