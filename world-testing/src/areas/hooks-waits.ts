import { expect } from 'vitest';
import type { Area } from '../area.js';
import { allEvents, count, createHook, createWait, eventTypes, runningRun, send } from '../fixtures.js';
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
} from '../util.js';

/** docs/world-contract.md §2.5, §3.1 (hook and wait), §3.2 hook_* and wait_* events, §6.4. */
export function hooksArea({ must }: Area): void {
  must('hook_created creates a live hook with the required string fields; isWebhook defaults to false', async ({ world }) => {
    const runId = await runningRun(world);
    const hookId = newHookId();
    const token = `tok-${nonce()}`;
    const res = await createHook(world, runId, hookId, token, { metadata: payload(1, 2) });
    expect(res.event?.eventType).toBe('hook_created');
    expect(res.hook?.hookId).toBe(hookId);
    expect(res.hook?.token).toBe(token);
    const hook = await world.hooks.get(hookId);
    expect(hook.runId).toBe(runId);
    expect(hook.hookId).toBe(hookId);
    expect(hook.token).toBe(token);
    for (const field of ['ownerId', 'projectId', 'environment'] as const) {
      expect(typeof hook[field], field).toBe('string');
    }
    expect(hook.createdAt).toBeInstanceOf(Date);
    expect(hook.isWebhook).toBe(false);
    expect(arr(hook.metadata)).toEqual(Array.from(payload(1, 2)));
    const byToken = await world.hooks.getByToken(token);
    expect(byToken.hookId).toBe(hookId);
    expect(byToken.isWebhook).toBe(false);
  });

  must('isWebhook round-trips true and false', async ({ world }) => {
    const runId = await runningRun(world);
    const web = newHookId();
    const plain = newHookId();
    await createHook(world, runId, web, `tok-${nonce()}`, { isWebhook: true });
    await createHook(world, runId, plain, `tok-${nonce()}`, { isWebhook: false });
    expect((await world.hooks.get(web)).isWebhook).toBe(true);
    expect((await world.hooks.get(plain)).isWebhook).toBe(false);
    const listed = await world.hooks.list({ runId });
    expect(Object.fromEntries(listed.data.map((h) => [h.hookId, h.isWebhook]))).toEqual({ [web]: true, [plain]: false });
  });

  must('hooks.get and hooks.getByToken of unknown ids throw HookNotFoundError', async ({ world }) => {
    await rejectsWithName(world.hooks.get(newHookId()), 'HookNotFoundError', 'hooks.get(unknown)');
    await rejectsWithName(world.hooks.getByToken(`tok-${nonce()}`), 'HookNotFoundError', 'hooks.getByToken(unknown)');
  });

  must('a duplicate hook_created (same run and hook id) throws EntityConflictError', async ({ world }) => {
    const runId = await runningRun(world);
    const hookId = newHookId();
    const token = `tok-${nonce()}`;
    await createHook(world, runId, hookId, token);
    await rejectsWithName(createHook(world, runId, hookId, token), 'EntityConflictError');
    expect(count(await eventTypes(world, runId), 'hook_created')).toBe(1);
  });

  must('a token held by another run yields a hook_conflict event (not an error) and no hook', async ({ world }) => {
    const owner = await runningRun(world);
    const requester = await runningRun(world);
    const token = `tok-${nonce()}`;
    const ownerHook = newHookId();
    await createHook(world, owner, ownerHook, token);
    const hookId = newHookId();
    const res = await createHook(world, requester, hookId, token);
    expect(res.event?.eventType).toBe('hook_conflict');
    expect(res.event?.correlationId).toBe(hookId);
    expect(res.event?.runId).toBe(requester);
    expect(dataOf(res.event)).toMatchObject({ token, conflictingRunId: owner });
    expect(res.hook).toBeUndefined();
    await rejectsWithName(world.hooks.get(hookId), 'HookNotFoundError');
    expect((await world.hooks.getByToken(token)).hookId).toBe(ownerHook);
    const types = await eventTypes(world, requester);
    expect(types).toContain('hook_conflict');
    expect(types).not.toContain('hook_created');
    const conflict = (await allEvents(world, requester)).find((e) => e.eventType === 'hook_conflict');
    expect(dataOf(conflict)).toMatchObject({ token, conflictingRunId: owner });
  });

  must('a token held by another hook of the same run also yields hook_conflict', async ({ world }) => {
    const runId = await runningRun(world);
    const token = `tok-${nonce()}`;
    await createHook(world, runId, newHookId(), token);
    const res = await createHook(world, runId, newHookId(), token);
    expect(res.event?.eventType).toBe('hook_conflict');
    expect(dataOf(res.event)?.conflictingRunId).toBe(runId);
  });

  must('20 runs racing for one token: exactly one owner, 19 hook_conflict events', async ({ world }) => {
    const token = `tok-${nonce()}`;
    const runs = await Promise.all(Array.from({ length: 20 }, () => runningRun(world)));
    const { ok, errors } = await settle(runs.map((runId) => createHook(world, runId, newHookId(), token)));
    expect(errors.map((e) => `${e.name}: ${e.message}`)).toEqual([]);
    const created = ok.filter((r: Loose) => r.event?.eventType === 'hook_created');
    const conflicts = ok.filter((r: Loose) => r.event?.eventType === 'hook_conflict');
    expect(created.length).toBe(1);
    expect(conflicts.length).toBe(19);
    const owner = created[0].event.runId;
    for (const c of conflicts) expect(dataOf(c.event)?.conflictingRunId).toBe(owner);
    expect((await world.hooks.getByToken(token)).runId).toBe(owner);
  });

  must('hook_created on a finished run throws EntityConflictError; on an unknown run WorkflowRunNotFoundError', async ({ world }) => {
    const runId = await runningRun(world);
    await send(world, runId, { eventType: 'run_completed', eventData: { output: payload(1) } });
    await rejectsWithName(createHook(world, runId, newHookId(), `tok-${nonce()}`), 'EntityConflictError', 'on a finished run');
    await rejectsWithName(createHook(world, newRunId(), newHookId(), `tok-${nonce()}`), 'WorkflowRunNotFoundError', 'on an unknown run');
  });

  must('hook_received appends an event and leaves the hook live (resumable several times)', async ({ world }) => {
    const runId = await runningRun(world);
    const hookId = newHookId();
    const token = `tok-${nonce()}`;
    await createHook(world, runId, hookId, token);
    for (let i = 0; i < 3; i++) {
      const res = await send(world, runId, { eventType: 'hook_received', correlationId: hookId, eventData: { token, payload: payload(i) } });
      expect(res.event?.eventType).toBe('hook_received');
    }
    expect((await world.hooks.get(hookId)).hookId).toBe(hookId);
    const received = (await allEvents(world, runId)).filter((e) => e.eventType === 'hook_received');
    expect(received.map((e) => arr(dataOf(e).payload))).toEqual([0, 1, 2].map((i) => Array.from(payload(i))));
  });

  must('hook_received for an unknown or disposed hook throws HookNotFoundError', async ({ world }) => {
    const runId = await runningRun(world);
    await rejectsWithName(
      send(world, runId, { eventType: 'hook_received', correlationId: newHookId(), eventData: { payload: payload(1) } }),
      'HookNotFoundError',
      'unknown hook',
    );
    const hookId = newHookId();
    await createHook(world, runId, hookId, `tok-${nonce()}`);
    await send(world, runId, { eventType: 'hook_disposed', correlationId: hookId });
    await rejectsWithName(
      send(world, runId, { eventType: 'hook_received', correlationId: hookId, eventData: { payload: payload(1) } }),
      'HookNotFoundError',
      'disposed hook',
    );
  });

  must('hook_disposed deletes the hook and releases its token; a second dispose throws HookNotFoundError', async ({ world }) => {
    const runId = await runningRun(world);
    const hookId = newHookId();
    const token = `tok-${nonce()}`;
    await createHook(world, runId, hookId, token);
    const res = await send(world, runId, { eventType: 'hook_disposed', correlationId: hookId, eventData: { token } });
    expect(res.event?.eventType).toBe('hook_disposed');
    await rejectsWithName(world.hooks.get(hookId), 'HookNotFoundError');
    await rejectsWithName(world.hooks.getByToken(token), 'HookNotFoundError');
    expect((await world.hooks.list({ runId })).data.map((h) => h.hookId)).not.toContain(hookId);
    await rejectsWithName(send(world, runId, { eventType: 'hook_disposed', correlationId: hookId }), 'HookNotFoundError');
    const again = await createHook(world, await runningRun(world), newHookId(), token);
    expect(again.event?.eventType).toBe('hook_created');
  });

  must('concurrent hook_disposed of one hook: one success, the others HookNotFoundError or EntityConflictError', async ({ world }) => {
    const runId = await runningRun(world);
    const hookId = newHookId();
    await createHook(world, runId, hookId, `tok-${nonce()}`);
    const { ok, errors } = await settle(Array.from({ length: 8 }, () => send(world, runId, { eventType: 'hook_disposed', correlationId: hookId })));
    expect(ok.length).toBe(1);
    for (const e of errors) expect(['HookNotFoundError', 'EntityConflictError']).toContain(e.name);
    expect(count(await eventTypes(world, runId), 'hook_disposed')).toBe(1);
  });

  must('hook_received racing hook_disposed: no hook_received is logged after the hook_disposed', async ({ world }) => {
    for (let trial = 0; trial < 5; trial++) {
      const runId = await runningRun(world);
      const hookId = newHookId();
      await createHook(world, runId, hookId, `tok-${nonce()}`);
      await Promise.allSettled([
        ...Array.from({ length: 5 }, (_, i) =>
          send(world, runId, { eventType: 'hook_received', correlationId: hookId, eventData: { payload: payload(i) } }),
        ),
        send(world, runId, { eventType: 'hook_disposed', correlationId: hookId }),
      ]);
      const types = await eventTypes(world, runId);
      const disposedAt = types.indexOf('hook_disposed');
      expect(disposedAt, `trial ${trial}: ${types}`).toBeGreaterThan(-1);
      expect(types.slice(disposedAt + 1), `trial ${trial}`).not.toContain('hook_received');
    }
  });

  must('hooks.list by run (ascending by default), without runId (all hooks); resolveData none drops metadata', async ({ world }) => {
    const runId = await runningRun(world);
    const ids = [];
    for (let i = 0; i < 3; i++) {
      const hookId = newHookId();
      ids.push(hookId);
      await createHook(world, runId, hookId, `tok-${nonce()}`, { metadata: payload(i) });
    }
    const listed = await world.hooks.list({ runId });
    expect(listed.data.map((h) => h.hookId)).toEqual(ids);
    expect(arr(listed.data[0]?.metadata)).toEqual(Array.from(payload(0)));
    const none = await world.hooks.list({ runId, resolveData: 'none' });
    expect(none.data.map((h) => (h as Loose).metadata)).toEqual([undefined, undefined, undefined]);
    const none1 = await world.hooks.get(ids[0]!, { resolveData: 'none' });
    expect((none1 as Loose).metadata).toBeUndefined();
    const everything: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 10_000; i++) {
      const page = await world.hooks.list({ pagination: { limit: 1000, ...(cursor ? { cursor } : {}) } } as Loose);
      everything.push(...page.data.map((h) => h.hookId));
      if (!page.hasMore) break;
      cursor = page.cursor ?? undefined;
    }
    for (const id of ids) expect(everything).toContain(id);
  });

  must('hook tokens are arbitrary strings of any length (10 000 characters, unicode, slashes)', async ({ world }) => {
    const runId = await runningRun(world);
    const long = `${nonce()}/${'ä€𝄞'.repeat(1000)}/${'x'.repeat(6000)}`;
    const hookId = newHookId();
    await createHook(world, runId, hookId, long);
    expect((await world.hooks.getByToken(long)).hookId).toBe(hookId);
    const res = await createHook(world, await runningRun(world), newHookId(), long);
    expect(res.event?.eventType).toBe('hook_conflict');
    await rejectsWithName(world.hooks.getByToken(long.slice(0, -1)), 'HookNotFoundError');
  });
}

export function waitsArea({ must, should }: Area): void {
  must('wait_created creates a waiting wait <runId>-<correlationId> with resumeAt as a Date', async ({ world }) => {
    const runId = await runningRun(world);
    const waitId = newWaitId();
    const resumeAt = new Date(Date.now() + 60_000);
    const res = await createWait(world, runId, waitId, resumeAt);
    expect(res.event?.eventType).toBe('wait_created');
    expect(res.wait?.waitId).toBe(`${runId}-${waitId}`);
    expect(res.wait?.status).toBe('waiting');
    expect(res.wait?.resumeAt).toBeInstanceOf(Date);
    expect(res.wait?.resumeAt?.getTime()).toBe(resumeAt.getTime());
    const ev = (await allEvents(world, runId)).find((e) => e.eventType === 'wait_created');
    expect(dataOf(ev).resumeAt).toBeInstanceOf(Date);
    expect(dataOf(ev).resumeAt.getTime()).toBe(resumeAt.getTime());
  });

  must('a duplicate wait_created throws EntityConflictError; on a finished run too', async ({ world }) => {
    const runId = await runningRun(world);
    const waitId = newWaitId();
    await createWait(world, runId, waitId, new Date());
    await rejectsWithName(createWait(world, runId, waitId, new Date()), 'EntityConflictError', 'duplicate wait_created');
    expect(count(await eventTypes(world, runId), 'wait_created')).toBe(1);
    await send(world, runId, { eventType: 'run_cancelled' });
    await rejectsWithName(createWait(world, runId, newWaitId(), new Date()), 'EntityConflictError', 'wait_created on a finished run');
  });

  must('wait_completed completes the wait exactly once; a second one throws EntityConflictError', async ({ world }) => {
    const runId = await runningRun(world);
    const waitId = newWaitId();
    await createWait(world, runId, waitId, new Date(Date.now() - 1000));
    const res = await send(world, runId, { eventType: 'wait_completed', correlationId: waitId });
    expect(res.event?.eventType).toBe('wait_completed');
    expect(res.wait?.status).toBe('completed');
    await rejectsWithName(send(world, runId, { eventType: 'wait_completed', correlationId: waitId }), 'EntityConflictError');
  });

  must('10 concurrent wait_completed (replays and wakeUp): one success, the rest EntityConflictError', async ({ world }) => {
    const runId = await runningRun(world);
    const waitId = newWaitId();
    await createWait(world, runId, waitId, new Date());
    const { ok, errors } = await settle(Array.from({ length: 10 }, () => send(world, runId, { eventType: 'wait_completed', correlationId: waitId })));
    expect(ok.length).toBe(1);
    expect(errors.map((e) => e.name)).toEqual(Array(9).fill('EntityConflictError'));
    expect(count(await eventTypes(world, runId), 'wait_completed')).toBe(1);
  });

  must('wait_completed of an unknown wait on a live run throws WorkflowWorldError', async ({ world }) => {
    const runId = await runningRun(world);
    await rejectsWithName(send(world, runId, { eventType: 'wait_completed', correlationId: newWaitId() }), 'WorkflowWorldError');
  });

  should('wait_completed of an unknown wait answers status 404', async ({ world }) => {
    const runId = await runningRun(world);
    expect((await rejection(send(world, runId, { eventType: 'wait_completed', correlationId: newWaitId() }))).status).toBe(404);
  });

  must('wait_completed after the run ended throws RunExpiredError', async ({ world }) => {
    const runId = await runningRun(world);
    const waitId = newWaitId();
    await createWait(world, runId, waitId, new Date(Date.now() + 60_000));
    await send(world, runId, { eventType: 'run_completed', eventData: { output: payload(1) } });
    await rejectsWithName(send(world, runId, { eventType: 'wait_completed', correlationId: waitId }), 'RunExpiredError');
  });

  must('wait ids are scoped to their run: one correlation id in two runs gives two waits', async ({ world }) => {
    const a = await runningRun(world);
    const b = await runningRun(world);
    const waitId = newWaitId();
    await createWait(world, a, waitId, new Date());
    await createWait(world, b, waitId, new Date());
    await send(world, a, { eventType: 'wait_completed', correlationId: waitId });
    const res = await send(world, b, { eventType: 'wait_completed', correlationId: waitId });
    expect(res.wait?.waitId).toBe(`${b}-${waitId}`);
  });
}
