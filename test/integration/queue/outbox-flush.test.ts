import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, describe, expect, test } from 'vitest';
import { connectionOptions, type Db } from '../../../src/db/client.js';
import { quoteIdent } from '../../../src/db/ident.js';
import { channelName } from '../../../src/db/listener.js';
import { enqueueMessage, prepareMessage } from '../../../src/queue/enqueue.js';
import { Outbox, type SentMessage } from '../../../src/queue/outbox.js';
import { createWaker } from '../../../src/queue/wake.js';
import { adminSql, databaseUrl } from '../../helpers/db.js';
import { internalDb, messageRows, queueWorld, waitFor } from './helpers.js';

/**
 * The Outbox alone (src/queue/outbox.ts), on a real server: which sends it holds, and what an
 * early flush does when the database refuses the insert. The refusal is real: the flushing
 * connection logs in as a role whose INSERT privilege on the queue table is revoked and restored.
 */
const step = (runId: string) =>
  prepareMessage('__wkf_step_s', { workflowName: 'w', workflowRunId: runId, workflowStartedAt: 0, stepId: 'step_1' });
const flow = (runId: string) => prepareMessage('__wkf_workflow_w', { runId });

const roles: string[] = [];
const pools: postgres.Sql[] = [];
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end({ timeout: 5 })));
  for (const role of roles) await adminSql().unsafe(`drop owned by ${role}; drop role ${role}`);
});

/** A Db on `schema` that connects as a role of its own, which the test can take privileges from. */
async function restrictedDb(schema: string): Promise<{ db: Db; revoke(): Promise<void>; grant(): Promise<void> }> {
  const role = `wwp_outbox_${randomBytes(4).toString('hex')}`;
  roles.push(role);
  const ident = quoteIdent(schema);
  await adminSql().unsafe(`create role ${role} login password 'outbox-test'`);
  await adminSql().unsafe(`grant usage on schema ${ident} to ${role}`);
  await adminSql().unsafe(`grant select, insert, update, delete on all tables in schema ${ident} to ${role}`);
  const base = internalDb(schema);
  const url = new URL(databaseUrl);
  url.username = role;
  url.password = 'outbox-test';
  const sql = postgres(url.toString(), connectionOptions(base.config, 2));
  pools.push(sql);
  return {
    db: { ...base, sql },
    revoke: async () => void (await adminSql().unsafe(`revoke insert on ${ident}.messages from ${role}`)),
    grant: async () => void (await adminSql().unsafe(`grant insert on ${ident}.messages to ${role}`)),
  };
}

describe('Outbox', () => {
  test("holds the delivery's own run's messages on its own database, nothing else", async () => {
    const world = queueWorld();
    await world.runs.list(); // migrates the schema
    const db = internalDb(world.schema);
    const other = await restrictedDb(world.schema); // same schema, another pool
    const enqueued: SentMessage[][] = [];
    const outbox = new Outbox(db, 'wrun_a', async (sent) => void enqueued.push(sent), 60_000);
    expect(outbox.offer(db, 'm1', step('wrun_a'))).toBe(true);
    expect(outbox.offer(db, 'm2', flow('wrun_a'))).toBe(true);
    expect(outbox.offer(db, 'm3', flow('wrun_b'))).toBe(false); // a child run: never waits on its parent
    expect(outbox.offer(internalDb(`${world.schema}_other`), 'm4', flow('wrun_a'))).toBe(false); // another schema
    expect(outbox.offer(other.db, 'm5', flow('wrun_a'))).toBe(false); // another pool
    expect(outbox.offer(db, 'm6', prepareMessage('__wkf_workflow_w', {}))).toBe(false); // no run id
    expect((await outbox.close()).map((s) => s.id)).toEqual(['m1', 'm2']);
    expect(outbox.offer(db, 'm7', flow('wrun_a'))).toBe(false); // after the result: enqueued at once
    expect(enqueued).toEqual([]);
    expect(new Outbox(db, null, async () => {}).offer(db, 'm8', flow('wrun_a'))).toBe(false);
  });

  test('a handler still running after the flush delay has its messages enqueued at once; a failed flush holds them again', async () => {
    const world = queueWorld();
    await world.runs.list(); // migrates the schema
    const { db, revoke, grant } = await restrictedDb(world.schema);
    const waker = createWaker(db, channelName(world.schema, 'queue'));
    const flushes: ('ok' | 'refused')[] = [];
    const enqueueNow = async (sent: SentMessage[]) => {
      try {
        for (const { id, message } of sent) await enqueueMessage(db, waker, id, message);
        flushes.push('ok');
      } catch (error) {
        flushes.push('refused');
        throw error;
      }
    };
    const ids = async () => (await messageRows(world.schema)).map((r) => r.id);

    await revoke();
    const failed = new Outbox(db, 'wrun_a', enqueueNow, 20);
    failed.offer(db, 'msg_m1', step('wrun_a'));
    await waitFor(() => flushes.length === 1, 'the early flush');
    expect(flushes).toEqual(['refused']);
    // the refused flush left its message to the result's statement
    expect((await failed.close()).map((s) => s.id)).toEqual(['msg_m1']);
    expect(await ids()).toEqual([]);

    const retried = new Outbox(db, 'wrun_a', enqueueNow, 20);
    retried.offer(db, 'msg_m2', step('wrun_a'));
    await waitFor(() => flushes.length === 2, 'the second early flush');
    expect(flushes[1]).toBe('refused');
    await grant();
    retried.offer(db, 'msg_m3', step('wrun_a')); // a later send flushes what was held with it
    await waitFor(() => flushes.length === 3, 'the third early flush');
    expect(flushes[2]).toBe('ok');
    expect(await ids()).toEqual(['msg_m2', 'msg_m3']);
    expect(await retried.close()).toEqual([]);
  });
});
