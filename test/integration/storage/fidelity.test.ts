import postgres from 'postgres';
import { describe, expect, test } from 'vitest';
import { databaseUrl, freshSchema, testWorld } from '../../helpers/db.js';
import { bytes, createRun, createStep, rejection } from '../../helpers/runs.js';

const world = testWorld();

describe('data fidelity', () => {
  test('binary, NUL bytes, emoji, nesting, dates and empty values round-trip exactly', async () => {
    const runId = await createRun(world, { started: true });
    const payloads: unknown[] = [
      bytes(),
      bytes(0, 0, 0),
      'nul \u0000 inside, emoji 🧪🚀, accents é ñ 中文',
      '',
      { nested: { deeper: { deepest: [1, 'two', { three: bytes(3) }, null, true] } }, when: new Date(1_700_000_000_123) },
      Array.from({ length: 50 }).reduce<unknown>((acc) => ({ acc }), 'bottom'),
      [],
      {},
      0,
      null,
    ];
    for (const [i, input] of payloads.entries()) {
      const stepId = `step_fid_${i}`;
      await world.events.create(runId, { eventType: 'step_created', correlationId: stepId, eventData: { stepName: 'fid', input } });
      await world.events.create(runId, { eventType: 'step_started', correlationId: stepId });
      await world.events.create(runId, { eventType: 'step_completed', correlationId: stepId, eventData: { result: input } });
      const step = await world.steps.get(runId, stepId);
      expect(step.input).toEqual(input);
      expect(step.output).toEqual(input);
      if (input instanceof Uint8Array) {
        expect(step.output).toBeInstanceOf(Uint8Array);
        // a fresh copy, not a view into pooled memory
        expect((step.output as Uint8Array).byteOffset).toBe(0);
        expect((step.output as Uint8Array).buffer.byteLength).toBe((input as Uint8Array).length);
      }
    }
    const events = (await world.events.list({ runId })).data.filter((e) => e.eventType === 'step_completed');
    expect(events.map((e) => (e.eventData as { result: unknown }).result)).toEqual(payloads);
  });

  test('a 5 MiB payload round-trips byte for byte as a fresh Uint8Array', async () => {
    const runId = await createRun(world, { started: true });
    const big = new Uint8Array(5 * 1024 * 1024).map((_, i) => (i * 31) % 256);
    await world.events.create(runId, { eventType: 'step_created', correlationId: 'step_big', eventData: { stepName: 'big', input: big } });
    await world.events.create(runId, { eventType: 'step_started', correlationId: 'step_big' });
    await world.events.create(runId, { eventType: 'step_completed', correlationId: 'step_big', eventData: { result: big } });
    const step = await world.steps.get(runId, 'step_big');
    for (const value of [step.input, step.output]) {
      expect(value).toBeInstanceOf(Uint8Array);
      // vitest's deep equality walks element by element; compare the bytes natively
      expect(Buffer.compare(Buffer.from(value as Uint8Array), Buffer.from(big))).toBe(0);
      expect((value as Uint8Array).buffer.byteLength).toBe(big.length);
    }
  });

  test('StructuredError with NUL bytes and long stacks survives on steps and runs', async () => {
    const runId = await createRun(world, { started: true });
    const stepId = await createStep(world, runId);
    const error = { message: 'bad \u0000 thing', stack: 'Error: bad\n'.repeat(1000), code: 'E_X' };
    await world.events.create(runId, { eventType: 'step_failed', correlationId: stepId, eventData: { error, stack: error.stack } });
    expect((await world.steps.get(runId, stepId)).error).toEqual({ message: error.message, stack: error.stack });
    const { run } = await world.events.create(runId, { eventType: 'run_failed', eventData: { error, errorCode: 'USER_ERROR' } });
    expect(run?.error).toEqual({ message: error.message, stack: error.stack, code: 'USER_ERROR' });
    expect(JSON.parse(JSON.stringify(run?.error))).toEqual(run?.error);
  });

  test('a NUL byte in a text field (step name) is a 400, not a crash', async () => {
    const runId = await createRun(world, { started: true });
    const error = await rejection(
      world.events.create(runId, { eventType: 'step_created', correlationId: 'step_nul', eventData: { stepName: 'a\u0000b', input: bytes() } }),
    );
    expect(error).toMatchObject({ name: 'WorkflowWorldError', status: 400 });
  });

  test('dates are real UTC whatever the session time zone, and event times never go backwards', async () => {
    const schema = freshSchema();
    const sql = postgres(databaseUrl, { max: 2, onnotice: () => {}, connection: { TimeZone: 'America/New_York' } });
    const { createWorld } = await import('../../../src/index.js');
    const nyWorld = createWorld({ sql, schema });
    try {
      const before = Date.now();
      const runId = await createRun(nyWorld, { started: true });
      const after = Date.now();
      const run = await nyWorld.runs.get(runId);
      for (const d of [run.createdAt, run.startedAt as Date, run.updatedAt]) {
        expect(d.getTime()).toBeGreaterThanOrEqual(before - 5_000);
        expect(d.getTime()).toBeLessThanOrEqual(after + 5_000);
      }
      for (let i = 0; i < 20; i++) await createStep(nyWorld, runId);
      const { data } = await nyWorld.events.list({ runId });
      for (let i = 1; i < data.length; i++) {
        expect(data[i]!.createdAt.getTime()).toBeGreaterThanOrEqual(data[i - 1]!.createdAt.getTime());
        // the event id's ULID time is its createdAt
        const { decodeTime } = await import('ulid');
        expect(decodeTime(data[i]!.eventId.slice(5))).toBe(data[i]!.createdAt.getTime());
      }
      // run_started's startedAt is the run_started event's createdAt, to the millisecond
      expect(data[1]?.createdAt.getTime()).toBe(run.startedAt?.getTime());
    } finally {
      await nyWorld.close();
      await sql.end();
    }
  });
});

describe('stale-snapshot guard (stateUpdatedAt)', () => {
  test('a create carrying stateUpdatedAt older than the latest step completion is PreconditionFailedError', async () => {
    const runId = await createRun(world, { started: true });
    const stepId = await createStep(world, runId);
    await world.events.create(runId, { eventType: 'step_started', correlationId: stepId });
    const snapshot = Date.now() - 60_000;
    const { event } = await world.events.create(runId, { eventType: 'step_completed', correlationId: stepId, eventData: { result: bytes() } });
    const stale = await rejection(
      world.events.create(runId, { eventType: 'step_created', correlationId: 'step_late', eventData: { stepName: 's', input: bytes() } }, { stateUpdatedAt: snapshot }),
    );
    expect(stale).toMatchObject({ name: 'PreconditionFailedError', status: 412 });
    const marker = event?.createdAt.getTime() as number;
    const ok = await world.events.create(runId, { eventType: 'step_created', correlationId: 'step_ok', eventData: { stepName: 's', input: bytes() } }, { stateUpdatedAt: marker });
    expect(ok.step?.stepId).toBe('step_ok');
    expect((await rejection(world.events.create(runId, { eventType: 'run_completed', eventData: { output: bytes() } }, { stateUpdatedAt: snapshot }))).name).toBe('PreconditionFailedError');
    expect((await world.events.create(runId, { eventType: 'run_completed', eventData: { output: bytes() } }, { stateUpdatedAt: marker })).run?.status).toBe('completed');
  });

  test('a hook delivery moves the marker too: a create from a snapshot older than hook_received is PreconditionFailedError', async () => {
    const runId = await createRun(world, { started: true });
    const hookId = `hook_${runId}`;
    await world.events.create(runId, { eventType: 'hook_created', correlationId: hookId, eventData: { token: `tok-${runId}` } });
    const snapshot = Date.now() - 60_000;
    const { event } = await world.events.create(runId, { eventType: 'hook_received', correlationId: hookId, eventData: { payload: bytes(1) } });
    const stale = await rejection(
      world.events.create(runId, { eventType: 'step_created', correlationId: 'step_late', eventData: { stepName: 's', input: bytes() } }, { stateUpdatedAt: snapshot }),
    );
    expect(stale).toMatchObject({ name: 'PreconditionFailedError', status: 412 });
    const ok = await world.events.create(runId, { eventType: 'step_created', correlationId: 'step_ok', eventData: { stepName: 's', input: bytes() } }, { stateUpdatedAt: event!.createdAt.getTime() });
    expect(ok.step?.stepId).toBe('step_ok');
  });
});
