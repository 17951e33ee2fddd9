import { expect } from 'vitest';
import type { Area } from '../area.js';
import { allEvents, createHook, createRun, createStep, createWait, runningRun, send, startStep } from '../fixtures.js';
import { allBytes, bytesEqual, dataOf, newHookId, newStepId, newWaitId, nonce, payload, randomPayload } from '../util.js';

const NUL = '\u0000';

/** docs/world-contract.md §5 (data representation): bytes, U+0000, Dates, structured eventData, names. */
export function fidelityArea({ must, should }: Area): void {
  must('Uint8Array payloads round-trip byte-exactly (every byte value, and 1 MiB) in every payload field', async ({ world }) => {
    for (const bytes of [allBytes(), randomPayload(1024 * 1024)]) {
      const runId = await createRun(world, { input: bytes });
      await send(world, runId, { eventType: 'run_started' });
      const stepId = await createStep(world, runId, newStepId(), bytes);
      await startStep(world, runId, stepId);
      await send(world, runId, { eventType: 'step_completed', correlationId: stepId, eventData: { result: bytes } });
      const hookId = newHookId();
      await createHook(world, runId, hookId, `tok-${nonce()}`, { metadata: bytes });
      await send(world, runId, { eventType: 'hook_received', correlationId: hookId, eventData: { payload: bytes } });
      await send(world, runId, { eventType: 'run_completed', eventData: { output: bytes } });
      const run = await world.runs.get(runId);
      expect(bytesEqual(run.input, bytes), 'run.input').toBe(true);
      expect(bytesEqual(run.output, bytes), 'run.output').toBe(true);
      const step = await world.steps.get(runId, stepId);
      expect(bytesEqual(step.input, bytes), 'step.input').toBe(true);
      expect(bytesEqual(step.output, bytes), 'step.output').toBe(true);
      const events = await allEvents(world, runId);
      const field = { run_created: 'input', step_created: 'input', step_completed: 'result', hook_created: 'metadata', hook_received: 'payload', run_completed: 'output' } as const;
      for (const e of events) {
        const key = field[e.eventType as keyof typeof field];
        if (key) expect(bytesEqual(dataOf(e)[key], bytes), `${e.eventType}.${key}`).toBe(true);
      }
    }
  });

  must('byte arrays come back as fresh copies: mutating one read does not change the next', async ({ world }) => {
    const runId = await createRun(world, { input: payload(1, 2, 3) });
    const first = await world.runs.get(runId);
    (first.input as Uint8Array).fill(0);
    const second = await world.runs.get(runId);
    expect(Array.from(second.input as Uint8Array)).toEqual(Array.from(payload(1, 2, 3)));
  });

  should('byte arrays are not views into a larger (pooled) buffer', async ({ world }) => {
    const runId = await createRun(world, { input: payload(1, 2, 3) });
    const input = (await world.runs.get(runId)).input as Uint8Array;
    expect(input.byteOffset).toBe(0);
    expect(input.buffer.byteLength).toBe(input.byteLength);
  });

  must('strings containing U+0000 round-trip in errors, stacks, eventData and executionContext', async ({ world }) => {
    const message = `bad${NUL}byte${NUL}`;
    const stack = `Error: x${NUL}\n    at y`;
    const runId = await runningRun(world, { executionContext: { note: `ctx${NUL}value`, nested: { s: NUL } } });
    expect((await world.runs.get(runId)).executionContext).toEqual({ note: `ctx${NUL}value`, nested: { s: NUL } });
    const stepId = await createStep(world, runId);
    await startStep(world, runId, stepId);
    await send(world, runId, { eventType: 'step_retrying', correlationId: stepId, eventData: { error: message, stack } });
    expect((await world.steps.get(runId, stepId)).error?.message).toBe(message);
    await startStep(world, runId, stepId);
    await send(world, runId, { eventType: 'step_failed', correlationId: stepId, eventData: { error: { message, extra: NUL }, stack } });
    const step = await world.steps.get(runId, stepId);
    expect(step.error?.message).toBe(message);
    expect(step.error?.stack).toBe(stack);
    await send(world, runId, { eventType: 'run_failed', eventData: { error: { message, stack }, errorCode: 'USER_ERROR' } });
    const run = await world.runs.get(runId);
    expect(run.error?.message).toBe(message);
    expect(run.error?.stack).toBe(stack);
    const events = await allEvents(world, runId);
    expect(dataOf(events.find((e) => e.eventType === 'step_failed')).error).toEqual({ message, extra: NUL });
    expect(dataOf(events.find((e) => e.eventType === 'run_failed')).error).toEqual({ message, stack });
  });

  must('structured eventData and executionContext keep Dates, Uint8Arrays, numbers, booleans, nulls and nesting', async ({ world }) => {
    const when = new Date('2025-01-02T03:04:05.678Z');
    const value = {
      message: 'structured',
      when,
      bytes: payload(9, 8, 7),
      n: 1.5,
      big: 2 ** 40,
      neg: -3,
      yes: true,
      no: false,
      nothing: null,
      list: [1, 'two', { three: [3] }, when],
      unicode: 'ü€𝄞',
    };
    const runId = await runningRun(world, { executionContext: { value } });
    const ctx = (await world.runs.get(runId)).executionContext as { value: typeof value };
    expect(ctx.value.when, 'a Date in executionContext must come back as a Date').toBeInstanceOf(Date);
    expect(ctx.value.bytes, 'a Uint8Array in executionContext must come back as a Uint8Array').toBeInstanceOf(Uint8Array);
    expect(ctx.value).toEqual(value);
    const stepId = await createStep(world, runId);
    await send(world, runId, { eventType: 'step_failed', correlationId: stepId, eventData: { error: value } });
    const ev = (await allEvents(world, runId)).find((e) => e.eventType === 'step_failed');
    const error = dataOf(ev).error;
    expect(error.when, 'a Date in eventData must come back as a Date').toBeInstanceOf(Date);
    expect(error.list[3], 'a nested Date in eventData must come back as a Date').toBeInstanceOf(Date);
    expect(error.bytes, 'a Uint8Array in eventData must come back as a Uint8Array').toBeInstanceOf(Uint8Array);
    expect(error).toEqual(value);
  });

  must('every date field of runs, steps, hooks, waits and events is a Date', async ({ world }) => {
    const runId = await runningRun(world);
    const stepId = await createStep(world, runId);
    await startStep(world, runId, stepId);
    await send(world, runId, { eventType: 'step_retrying', correlationId: stepId, eventData: { error: 'x', retryAfter: new Date(Date.now() + 10) } });
    const hookId = newHookId();
    await createHook(world, runId, hookId, `tok-${nonce()}`);
    const wait = await createWait(world, runId, newWaitId(), new Date(Date.now() + 60_000));
    expect(wait.wait?.createdAt).toBeInstanceOf(Date);
    expect(wait.wait?.updatedAt).toBeInstanceOf(Date);
    const run = await world.runs.get(runId);
    for (const f of ['createdAt', 'updatedAt', 'startedAt'] as const) expect(run[f], `run.${f}`).toBeInstanceOf(Date);
    const step = await world.steps.get(runId, stepId);
    for (const f of ['createdAt', 'updatedAt', 'startedAt', 'retryAfter'] as const) expect(step[f], `step.${f}`).toBeInstanceOf(Date);
    expect((await world.hooks.get(hookId)).createdAt).toBeInstanceOf(Date);
    const listedRun = (await world.runs.list({ workflowName: run.workflowName })).data[0]!;
    expect(listedRun.createdAt).toBeInstanceOf(Date);
    expect(listedRun.startedAt).toBeInstanceOf(Date);
    const listedStep = (await world.steps.list({ runId })).data[0]!;
    expect(listedStep.createdAt).toBeInstanceOf(Date);
    expect((await world.hooks.list({ runId })).data[0]?.createdAt).toBeInstanceOf(Date);
    await send(world, runId, { eventType: 'run_completed', eventData: { output: payload(1) } });
    expect((await world.runs.get(runId)).completedAt).toBeInstanceOf(Date);
    for (const e of await allEvents(world, runId)) {
      expect(e.createdAt, `${e.eventType}.createdAt`).toBeInstanceOf(Date);
      const d = dataOf(e);
      if (d && 'resumeAt' in d) expect(d.resumeAt, `${e.eventType}.resumeAt`).toBeInstanceOf(Date);
      if (d && 'retryAfter' in d) expect(d.retryAfter, `${e.eventType}.retryAfter`).toBeInstanceOf(Date);
    }
  });

  must('names with / . @ ( ) [ ] and long correlation ids are stored as given', async ({ world }) => {
    const workflowName = `workflow//./src/app/(shop)/[orderId]/@modal/${nonce()}.ts//processOrder`;
    const stepName = 'step//./src/app/(shop)/[orderId]/steps.ts//charge.card@v2';
    const runId = await runningRun(world, { workflowName });
    const res = await send(world, runId, { eventType: 'step_created', correlationId: newStepId(), eventData: { stepName, input: payload(1) } });
    expect(res.step?.stepName).toBe(stepName);
    expect((await world.runs.get(runId)).workflowName).toBe(workflowName);
    expect((await world.runs.list({ workflowName })).data.map((r) => r.runId)).toEqual([runId]);
  });
}
