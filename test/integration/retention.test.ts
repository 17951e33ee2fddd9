import { expect, test } from 'vitest';
import { quoteIdent } from '../../src/db/ident.js';
import { adminSql, freshSchema, testWorld } from '../helpers/db.js';
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
