import type { Event } from '@workflow/world';
import { expect } from 'vitest';
import type { Area } from '../area.js';
import { allEvents, createHook, createRun, createStep, createWait, runningRun, send, SPEC, startRun, startStep, stepName } from '../fixtures.js';
import { dataOf, type Loose, newHookId, newRunId, newStepId, nonce, payload, rejection, rejectsWithName, ulidTime } from '../util.js';

/** docs/world-contract.md §2.4, §2.6 (common rules), §2.1 resolveData for events, §6.3 ordering. */
export function eventsArea({ must, should }: Area): void {
  must('events.get returns an event by run and event id', async ({ world }) => {
    const runId = await runningRun(world);
    const created = (await allEvents(world, runId))[0]!;
    const got = await world.events.get(runId, created.eventId);
    expect(got.eventId).toBe(created.eventId);
    expect(got.eventType).toBe('run_created');
    expect(got.runId).toBe(runId);
    expect(got.createdAt).toBeInstanceOf(Date);
    expect(got.createdAt.getTime()).toBe(created.createdAt.getTime());
  });

  must('events.get of an unknown event throws WorkflowWorldError', async ({ world }) => {
    const runId = await runningRun(world);
    const unknownId = `${(await allEvents(world, runId))[0]!.eventId.replace(/[^_]*$/, '')}01ARZ3NDEKTSV4RRFFQ69G5FAV`;
    await rejectsWithName(world.events.get(runId, unknownId), 'WorkflowWorldError');
  });

  should('events.get of an unknown event answers status 404', async ({ world }) => {
    const runId = await runningRun(world);
    const unknownId = `${(await allEvents(world, runId))[0]!.eventId.replace(/[^_]*$/, '')}01ARZ3NDEKTSV4RRFFQ69G5FAV`;
    expect((await rejection(world.events.get(runId, unknownId))).status).toBe(404);
  });

  must('the returned event carries the request fields, runId, a world-made eventId and createdAt', async ({ world }) => {
    const runId = await runningRun(world);
    const stepId = newStepId();
    const res = await send(world, runId, { eventType: 'step_created', correlationId: stepId, eventData: { stepName, input: payload(1) } });
    const ev = res.event as Event;
    expect(ev.eventType).toBe('step_created');
    expect(ev.correlationId).toBe(stepId);
    expect(ev.runId).toBe(runId);
    expect(ev.specVersion).toBe(SPEC);
    expect(typeof ev.eventId).toBe('string');
    expect(ev.eventId.length).toBeGreaterThan(0);
    expect(ev.createdAt).toBeInstanceOf(Date);
    expect(dataOf(ev).stepName).toBe(stepName);
    const listed = (await allEvents(world, runId)).find((e) => e.eventId === ev.eventId);
    expect(listed?.createdAt.getTime()).toBe(ev.createdAt.getTime());
  });

  must('the log is the replay source: every event in order, eventData verbatim, run_started without eventData', async ({ world }) => {
    const runId = newRunId();
    const input = payload(1, 1);
    await send(world, runId, {
      eventType: 'run_started',
      eventData: { deploymentId: 'dpl', workflowName: 'workflow//x//y', input },
    });
    const stepId = await createStep(world, runId, newStepId(), payload(2));
    await startStep(world, runId, stepId);
    await send(world, runId, { eventType: 'step_completed', correlationId: stepId, eventData: { stepName, result: payload(3) } });
    const hookId = newHookId();
    const token = `tok-${nonce()}`;
    await createHook(world, runId, hookId, token, { metadata: payload(4) });
    await send(world, runId, { eventType: 'hook_received', correlationId: hookId, eventData: { token, payload: payload(5) } });
    await send(world, runId, { eventType: 'hook_disposed', correlationId: hookId, eventData: { token } });
    const resumeAt = new Date(Date.now() - 5);
    await createWait(world, runId, 'wait_01', resumeAt);
    await send(world, runId, { eventType: 'wait_completed', correlationId: 'wait_01', eventData: { resumeAt } });
    await send(world, runId, { eventType: 'run_completed', eventData: { output: payload(6) } });
    const events = await allEvents(world, runId);
    expect(events.map((e) => e.eventType)).toEqual([
      'run_created',
      'run_started',
      'step_created',
      'step_started',
      'step_completed',
      'hook_created',
      'hook_received',
      'hook_disposed',
      'wait_created',
      'wait_completed',
      'run_completed',
    ]);
    expect(dataOf(events[1])).toBeUndefined();
    expect(Array.from(dataOf(events[0]).input)).toEqual(Array.from(input));
    expect(Array.from(dataOf(events[4]).result)).toEqual(Array.from(payload(3)));
    expect(dataOf(events[5]).token).toBe(token);
    expect(Array.from(dataOf(events[6]).payload)).toEqual(Array.from(payload(5)));
    expect(dataOf(events[9]).resumeAt.getTime()).toBe(resumeAt.getTime());
    expect(Array.from(dataOf(events[10]).output)).toEqual(Array.from(payload(6)));
    expect(new Set(events.map((e) => e.eventId)).size).toBe(events.length);
    for (const e of events) expect(e.runId).toBe(runId);
  });

  must('event createdAt is wall-clock time, non-decreasing along the log, and identical on every read', async ({ world }) => {
    const before = Date.now();
    const runId = await runningRun(world);
    for (let i = 0; i < 5; i++) await createStep(world, runId);
    const first = await allEvents(world, runId);
    const times = first.map((e) => e.createdAt.getTime());
    for (let i = 1; i < times.length; i++) expect(times[i]!).toBeGreaterThanOrEqual(times[i - 1]!);
    // generous bounds: a time-zone or clock-source bug shifts by hours, never by seconds
    expect(times[0]!).toBeGreaterThan(before - 5 * 60_000);
    expect(times.at(-1)!).toBeLessThan(Date.now() + 5 * 60_000);
    const again = await allEvents(world, runId);
    expect(again.map((e) => e.createdAt.getTime())).toEqual(times);
  });

  should('event ids are prefix + ULID whose time is the creation time, increasing along the log', async ({ world }) => {
    const runId = await runningRun(world);
    for (let i = 0; i < 5; i++) await createStep(world, runId);
    const events = await allEvents(world, runId);
    let previous = '';
    for (const e of events) {
      expect(e.eventId).toMatch(/^[a-z]+_[0-9A-HJKMNP-TV-Z]{26}$/);
      expect(Math.abs(ulidTime(e.eventId) - e.createdAt.getTime())).toBeLessThan(2000);
      const ulidPart = e.eventId.slice(e.eventId.lastIndexOf('_') + 1);
      expect(ulidPart > previous).toBe(true);
      previous = ulidPart;
    }
  });

  must('events.listByCorrelationId returns that correlation’s events, scoped to the run when given', async ({ world }) => {
    const a = await runningRun(world);
    const b = await runningRun(world);
    const stepId = newStepId();
    await createStep(world, a, stepId);
    await startStep(world, a, stepId);
    await createStep(world, b, stepId);
    await createStep(world, a); // another correlation
    const scoped = await world.events.listByCorrelationId({ correlationId: stepId, runId: a });
    expect(scoped.data.map((e) => e.eventType)).toEqual(['step_created', 'step_started']);
    expect(scoped.data.every((e) => e.runId === a && e.correlationId === stepId)).toBe(true);
    const unscoped = await world.events.listByCorrelationId({ correlationId: stepId });
    expect(unscoped.data.length).toBe(3);
    expect(new Set(unscoped.data.map((e) => e.runId))).toEqual(new Set([a, b]));
  });

  must('resolveData none strips only the payload keys of each event type (stripEventDataRefs)', async ({ world }) => {
    const runId = await createRun(world, { workflowName: 'workflow//./a.ts//keep', input: payload(1) });
    await startRun(world, runId);
    const stepId = newStepId();
    await send(world, runId, { eventType: 'step_created', correlationId: stepId, eventData: { stepName, input: payload(2) } });
    await startStep(world, runId, stepId);
    await send(world, runId, { eventType: 'step_retrying', correlationId: stepId, eventData: { stepName, error: 'e', retryAfter: new Date(0) } });
    await startStep(world, runId, stepId);
    await send(world, runId, { eventType: 'step_completed', correlationId: stepId, eventData: { stepName, result: payload(3) } });
    const failing = newStepId();
    await send(world, runId, { eventType: 'step_created', correlationId: failing, eventData: { stepName, input: payload(2) } });
    await send(world, runId, { eventType: 'step_failed', correlationId: failing, eventData: { stepName, error: 'x', stack: 'st' } });
    const hookId = newHookId();
    const token = `tok-${nonce()}`;
    await createHook(world, runId, hookId, token, { metadata: payload(4) });
    await send(world, runId, { eventType: 'hook_received', correlationId: hookId, eventData: { token, payload: payload(5) } });
    const resumeAt = new Date(Date.now() + 1000);
    await createWait(world, runId, 'wait_x', resumeAt);
    await send(world, runId, { eventType: 'run_failed', eventData: { error: { message: 'm' }, errorCode: 'USER_ERROR' } });
    const none = await world.events.list({ runId, resolveData: 'none', pagination: { sortOrder: 'asc', limit: 1000 } });
    const byType = (t: string) => none.data.filter((e) => e.eventType === t).map(dataOf);
    expect(byType('run_created')[0]).toEqual({ deploymentId: 'dpl_conformance', workflowName: 'workflow//./a.ts//keep' });
    expect(byType('step_created')[0]).toEqual({ stepName });
    expect(byType('step_completed')[0]).toEqual({ stepName });
    expect(byType('step_retrying')[0]).toMatchObject({ stepName });
    expect(byType('step_retrying')[0]).not.toHaveProperty('error');
    expect(byType('step_retrying')[0].retryAfter).toBeInstanceOf(Date);
    expect(byType('step_failed')[0]).toEqual({ stepName, stack: 'st' });
    expect(byType('hook_created')[0]).toMatchObject({ token });
    expect(byType('hook_created')[0]).not.toHaveProperty('metadata');
    expect(byType('hook_received')[0]).toEqual({ token });
    expect(byType('wait_created')[0].resumeAt.getTime()).toBe(resumeAt.getTime());
    expect(byType('run_failed')[0]).toEqual({ errorCode: 'USER_ERROR' });
    const stepStarted = none.data.find((e) => e.eventType === 'step_started');
    expect(dataOf(stepStarted)).toEqual({ stepName });
    // events.get and listByCorrelationId honour it too
    const created = none.data.find((e) => e.eventType === 'step_created')!;
    expect(dataOf(await world.events.get(runId, created.eventId, { resolveData: 'none' }))).toEqual({ stepName });
    const byCorr = await world.events.listByCorrelationId({ correlationId: hookId, runId, resolveData: 'none' });
    expect(byCorr.data.map(dataOf)).toEqual([expect.objectContaining({ token }), { token }]);
    expect(byCorr.data.map(dataOf)[0]).not.toHaveProperty('metadata');
  });

  must('resolveData none drops eventData entirely when only payload keys were present', async ({ world }) => {
    const runId = await runningRun(world);
    await send(world, runId, { eventType: 'run_completed', eventData: { output: payload(1) } });
    const none = await world.events.list({ runId, resolveData: 'none', pagination: { sortOrder: 'asc' } });
    const completed = none.data.find((e) => e.eventType === 'run_completed');
    expect(completed).toBeDefined();
    expect('eventData' in (completed as object) ? dataOf(completed) : undefined).toBeUndefined();
  });

  must('events.create with resolveData none returns the event stripped, the entity still complete', async ({ world }) => {
    const runId = await runningRun(world);
    const stepId = newStepId();
    const res = await send(
      world,
      runId,
      { eventType: 'step_created', correlationId: stepId, eventData: { stepName, input: payload(2) } },
      { resolveData: 'none' },
    );
    expect(dataOf(res.event)).toEqual({ stepName });
    const full = await world.events.get(runId, res.event.eventId);
    expect(Array.from(dataOf(full).input)).toEqual(Array.from(payload(2)));
  });

  must('hook_conflict is never accepted from callers', async ({ world }) => {
    const runId = await runningRun(world);
    await rejection(
      send(world, runId, { eventType: 'hook_conflict', correlationId: newHookId(), eventData: { token: 't', conflictingRunId: runId } }),
      'events.create(hook_conflict)',
    );
    expect((await allEvents(world, runId)).map((e) => e.eventType)).not.toContain('hook_conflict');
  });

  must('a reader following cursors while 200 events are appended concurrently misses none (log order = visibility order)', async ({ world }) => {
    const runId = await runningRun(world);
    const hookId = newHookId();
    await createHook(world, runId, hookId, `tok-${nonce()}`);
    let writing = true;
    const seen = new Map<string, Event>();
    let cursor: string | undefined;
    const reader = (async () => {
      for (;;) {
        const done = !writing;
        for (;;) {
          const page = await world.events.list({ runId, pagination: { sortOrder: 'asc', limit: 50, ...(cursor ? { cursor } : {}) } });
          for (const e of page.data) seen.set(e.eventId, e);
          if (page.cursor) cursor = page.cursor;
          if (!page.hasMore) break;
        }
        if (done) return;
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    try {
      for (let batch = 0; batch < 10; batch++) {
        await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            send(world, runId, { eventType: 'hook_received', correlationId: hookId, eventData: { payload: payload(batch, i) } }),
          ),
        );
      }
    } finally {
      writing = false;
    }
    await reader;
    const all = await allEvents(world, runId);
    expect(all.length).toBe(203);
    const missing = all.filter((e) => !seen.has(e.eventId)).map((e) => e.eventId);
    expect(missing).toEqual([]);
  });

}
