import { setWorld } from '@workflow/core/runtime';
import { getWorkflowRunEvents } from '@workflow/core/runtime/helpers';
import type { Event, EventResult } from '@workflow/world';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PRELOAD_MAX_EVENTS } from '../../../src/shared/run-start.js';
import { testWorld } from '../../helpers/db.js';
import { bytes, createRun, createStep, newRunIdForTest, rejection } from '../../helpers/runs.js';

/**
 * run_started returns the run's event log with the run (migrations/definitions/run-start.sql), so the
 * runtime replays without an events.list call. These tests hold the preloaded log to exactly what
 * events.list returns, and drive the runtime's own loader (getWorkflowRunEvents) for the cursor and
 * for the fallback when the log is too long to preload.
 */
const world = testWorld();

beforeAll(() => setWorld(world));
afterAll(() => setWorld(undefined));

const start = (runId: string, eventData?: Record<string, unknown>) =>
  world.events.create(runId, { eventType: 'run_started', ...(eventData ? { eventData } : {}) } as never);

/** All events of a run through events.list, as the runtime pages it. */
const listAll = async (runId: string): Promise<Event[]> => (await getWorkflowRunEvents(runId)).events as Event[];

/** What the runtime does with a run_started result (runtime.js): preloaded events, or none. */
const preloaded = (result: EventResult) =>
  result.events && result.events.length > 0 && result.hasMore !== true ? result.events : undefined;

describe('run_started returns the event log', () => {
  test('a running run: the same events as events.list, and a cursor that continues it', async () => {
    const runId = await createRun(world, { started: true, input: bytes(1, 2) });
    const stepId = await createStep(world, runId, 'step_a', bytes(3));
    await world.events.create(runId, { eventType: 'step_started', correlationId: stepId });
    await world.events.create(runId, { eventType: 'step_completed', correlationId: stepId, eventData: { result: bytes(4) } });
    await world.events.create(runId, { eventType: 'hook_created', correlationId: 'hook_a', eventData: { token: `tok-${runId}`, metadata: { m: 1 } } });
    await world.events.create(runId, { eventType: 'wait_created', correlationId: 'wait_a', eventData: { resumeAt: new Date(Date.now() + 60_000) } });

    const result = await start(runId);
    expect(result.event).toBeUndefined();
    expect(result.run?.status).toBe('running');
    const list = await world.events.list({ runId, pagination: { sortOrder: 'asc' } });
    expect(list.data).toHaveLength(7);
    expect(result.events).toEqual(list.data);
    expect(result.hasMore).toBe(false);
    expect(result.cursor).toBe(list.cursor);
    expect(result).not.toHaveProperty('maxEvents');

    // the runtime continues from the cursor: exactly the events appended since
    const later = [
      (await world.events.create(runId, { eventType: 'hook_received', correlationId: 'hook_a', eventData: { payload: bytes(5) } })).event!,
      (await world.events.create(runId, { eventType: 'wait_completed', correlationId: 'wait_a' })).event!,
    ];
    const next = await world.events.list({ runId, pagination: { cursor: result.cursor as string } });
    expect(next.data.map((e) => e.eventId)).toEqual(later.map((e) => e.eventId));
    expect(next.hasMore).toBe(false);
    const loaded = await getWorkflowRunEvents(runId, result.cursor as string);
    expect(loaded.events.map((e) => e.eventId)).toEqual(later.map((e) => e.eventId));
  });

  test('pending → running: the log includes the run_started just appended', async () => {
    const runId = await createRun(world);
    const result = await start(runId);
    expect(result.event?.eventType).toBe('run_started');
    expect(result.events?.map((e) => e.eventType)).toEqual(['run_created', 'run_started']);
    expect(result.events?.[1]?.eventId).toBe(result.event?.eventId);
    expect(result.events).toEqual(await listAll(runId));
    expect(result.hasMore).toBe(false);
  });

  test('resilient start: the log holds the run_created and run_started it wrote', async () => {
    const runId = newRunIdForTest();
    const input = bytes(8, 0, 8);
    const result = await start(runId, { deploymentId: 'd', workflowName: 'workflow//r', input });
    expect(result.run).toMatchObject({ runId, status: 'running', input });
    expect(result.events?.map((e) => e.eventType)).toEqual(['run_created', 'run_started']);
    expect(result.events).toEqual(await listAll(runId));
  });

  test('concurrent starts of a pending run: every result that sees it running sees its run_started', async () => {
    // The losers wait on the run lock while the winner commits; their log is read after that,
    // with a newer snapshot than the statement's own, so none can miss the winner's event.
    for (let trial = 0; trial < 5; trial++) {
      const runId = await createRun(world);
      const results = await Promise.all(Array.from({ length: 12 }, () => start(runId)));
      const [startedEvent] = (await listAll(runId)).filter((e) => e.eventType === 'run_started');
      for (const result of results) {
        expect(result.run?.status).toBe('running');
        expect(result.events?.map((e) => e.eventId)).toEqual([expect.any(String), startedEvent?.eventId]);
      }
    }
  });

  test('a terminal run is still RunExpiredError (410), and a missing run a 404', async () => {
    const runId = await createRun(world, { started: true });
    await world.events.create(runId, { eventType: 'run_cancelled' });
    expect(await rejection(start(runId))).toMatchObject({ name: 'RunExpiredError', status: 410 });
    expect(await rejection(start(newRunIdForTest()))).toMatchObject({ name: 'WorkflowRunNotFoundError', status: 404 });
  });

  test(`a log of ${PRELOAD_MAX_EVENTS} events is preloaded; a longer one is left to events.list`, async () => {
    const runId = await createRun(world, { started: true }); // run_created, run_started
    const ids = Array.from({ length: PRELOAD_MAX_EVENTS - 2 }, (_, i) => `step_${i}`);
    for (let i = 0; i < ids.length; i += 50) {
      await Promise.all(ids.slice(i, i + 50).map((id) => createStep(world, runId, id, bytes(i % 256))));
    }
    const full = await start(runId);
    expect(full.events).toHaveLength(PRELOAD_MAX_EVENTS);
    expect(full.hasMore).toBe(false);
    expect(full.events).toEqual(await listAll(runId));

    await createStep(world, runId, 'step_last');
    const long = await start(runId);
    expect(long.run?.status).toBe('running');
    expect(preloaded(long)).toBeUndefined();
    expect(long).not.toHaveProperty('events');
    // the runtime then loads the log itself, through events.list, page by page
    const loaded = await getWorkflowRunEvents(runId);
    expect(loaded.events).toHaveLength(PRELOAD_MAX_EVENTS + 1);
    expect(loaded.events.at(-1)?.correlationId).toBe('step_last');
    expect(loaded.events.slice(0, PRELOAD_MAX_EVENTS)).toEqual(full.events);
  });
});
