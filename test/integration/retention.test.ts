import { expect, test } from 'vitest';
import { quoteIdent } from '../../src/db/ident.js';
import { deleteFinishedRuns, RETENTION_INTERVAL_MS, startRetention } from '../../src/retention.js';
import { adminSql, freshSchema, testWorld } from '../helpers/db.js';
import { internalDb } from './queue/helpers.js';
import { bytes, createRun, rejection } from '../helpers/runs.js';

test('a started World with retentionDays deletes finished runs past the age, with their events, and nothing else', async () => {
  const schema = freshSchema();
  const setup = testWorld({ schema });
  const old = await createRun(setup, { started: true });
  await setup.events.create(old, { eventType: 'run_completed', eventData: { output: bytes(1) } });
  const recent = await createRun(setup, { started: true });
  await setup.events.create(recent, { eventType: 'run_failed', eventData: { error: 'x' } });
  const active = await createRun(setup, { started: true });
  await setup.writeToStream(`strm_${old}_user`, old, 'old data');
  await setup.closeStream(`strm_${old}_user`, old);
  await setup.writeToStream(`strm_${recent}_user`, recent, 'recent data');
  // age the finished run and the active one well past the retention window
  const runs = `${quoteIdent(schema)}.runs`;
  await adminSql().unsafe(`update ${runs} set completed_at = now() - interval '40 days' where run_id = $1`, [old]);
  await adminSql().unsafe(`update ${runs} set created_at = now() - interval '41 days' where run_id = $1`, [active]);

  const world = testWorld({ schema, retentionDays: 30 });
  await world.start(); // the first cleanup runs at start, then hourly
  await expect
    .poll(async () => (await rejection(world.runs.get(old))).name, { timeout: 20_000 })
    .toBe('WorkflowRunNotFoundError');
  expect((await world.runs.get(recent)).status).toBe('failed');
  expect((await world.runs.get(active)).status).toBe('running');
  const [events] = await adminSql().unsafe(`select count(*)::int as n from ${quoteIdent(schema)}.events where run_id = $1`, [old]);
  expect(events?.n).toBe(0);
  expect(await world.listStreamsByRunId(old)).toEqual([]);
  expect((await world.getStreamInfo(`strm_${old}_user`, old)).tailIndex).toBe(-1);
  expect(await world.listStreamsByRunId(recent)).toEqual([`strm_${recent}_user`]);
});

test('retention cleans every table of a deleted run, one process at a time, and repeats on its interval', async () => {
  const schema = freshSchema();
  const world = testWorld({ schema });
  const s = quoteIdent(schema);
  const old = await createRun(world, { started: true });
  await world.events.create(old, { eventType: 'step_created', correlationId: 'step_1', eventData: { stepName: 's', input: bytes(1) } });
  await world.events.create(old, { eventType: 'hook_created', correlationId: 'hook_1', eventData: { token: `tok-${old}` } });
  await world.events.create(old, { eventType: 'wait_created', correlationId: 'wait_1', eventData: { resumeAt: new Date() } });
  await world.writeToStream(`strm_${old}_user`, old, 'x');
  await adminSql().unsafe(`insert into ${s}.run_redrives (run_id, last_event_ms) values ($1, 0)`, [old]);
  await world.events.create(old, { eventType: 'run_completed', eventData: { output: bytes(1) } });
  // a finished run keeps no hooks or waits (the terminal event deleted them): written back here so
  // that the cleanup is seen to reach those tables too
  await adminSql().unsafe(
    `insert into ${s}.hooks (run_id, hook_id, token, token_digest, is_webhook, input_event, created_at)
     select run_id, 'hook_1', 'tok', sha256('tok'), false, input_event, now() from ${s}.runs where run_id = $1`,
    [old],
  );
  await adminSql().unsafe(
    `insert into ${s}.waits (run_id, correlation_id, status, created_at, updated_at) values ($1, 'wait_1', 'waiting', now(), now())`,
    [old],
  );
  await adminSql().unsafe(`update ${s}.runs set completed_at = now() - interval '40 days' where run_id = $1`, [old]);
  const tables = ['runs', 'events', 'steps', 'hooks', 'waits', 'run_redrives', 'streams'];
  const counts = async () => {
    const result: Record<string, number> = {};
    for (const t of tables) {
      const [row] = await adminSql().unsafe(`select count(*)::int as n from ${s}.${t} where run_id = $1`, [old]);
      result[t] = row?.n as number;
    }
    const [chunks] = await adminSql().unsafe(`select count(*)::int as n from ${s}.stream_chunks where stream_name = $1`, [`strm_${old}_user`]);
    result.stream_chunks = chunks?.n as number;
    return result;
  };
  expect(await counts()).toEqual({ runs: 1, events: 6, steps: 1, hooks: 1, waits: 1, run_redrives: 1, streams: 1, stream_chunks: 1 });

  // another process holds the round: this one deletes nothing
  const sql = adminSql();
  const db = internalDb(schema);
  await sql.begin(async (tx) => {
    await tx.unsafe(`select pg_advisory_xact_lock(hashtextextended($1, 0))`, [`workflow-world-postgres:retention:${schema}`]);
    expect(await deleteFinishedRuns(db, 30)).toBe(0);
  });
  expect((await counts()).runs).toBe(1);

  // the timer: a first round at once and the next one an interval later (hourly by default)
  expect(RETENTION_INTERVAL_MS).toBe(3_600_000);
  const second = await createRun(world, { started: true });
  await world.events.create(second, { eventType: 'run_completed', eventData: { output: bytes(1) } });
  const stop = startRetention(async () => db, 30, 200);
  try {
    await expect.poll(async () => Object.values(await counts()).every((n) => n === 0), { timeout: 20_000 }).toBe(true);
    await adminSql().unsafe(`update ${s}.runs set completed_at = now() - interval '40 days' where run_id = $1`, [second]);
    await expect.poll(async () => (await rejection(world.runs.get(second))).name, { timeout: 20_000 }).toBe('WorkflowRunNotFoundError');
  } finally {
    stop();
  }
});
