import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import type { Db } from '../../../src/db/client.js';
import { prepareMessage } from '../../../src/queue/enqueue.js';
import { Outbox, type SentMessage } from '../../../src/queue/outbox.js';

// The outbox only compares pool and schema identities: no statement is issued here.
const db = { sql: {}, schema: 'a' } as unknown as Db;
const step = (runId: string) =>
  prepareMessage('__wkf_step_s', { workflowName: 'w', workflowRunId: runId, workflowStartedAt: 0, stepId: 'step_1' });
const flow = (runId: string) => prepareMessage('__wkf_workflow_w', { runId });

describe('Outbox', () => {
  test("holds the delivery's own run's messages on its own database, nothing else", async () => {
    const enqueued: SentMessage[][] = [];
    const outbox = new Outbox(db, 'wrun_a', async (sent) => void enqueued.push(sent), 60_000);
    expect(outbox.offer(db, 'm1', step('wrun_a'))).toBe(true);
    expect(outbox.offer(db, 'm2', flow('wrun_a'))).toBe(true);
    expect(outbox.offer(db, 'm3', flow('wrun_b'))).toBe(false); // a child run: never waits on its parent
    expect(outbox.offer({ ...db, schema: 'b' }, 'm4', flow('wrun_a'))).toBe(false);
    expect(outbox.offer({ ...db, sql: {} } as unknown as Db, 'm5', flow('wrun_a'))).toBe(false);
    expect(outbox.offer(db, 'm6', prepareMessage('__wkf_workflow_w', {}))).toBe(false); // no run id
    expect((await outbox.close()).map((s) => s.id)).toEqual(['m1', 'm2']);
    expect(outbox.offer(db, 'm7', flow('wrun_a'))).toBe(false); // after the result: enqueued at once
    expect(enqueued).toEqual([]);
    expect(new Outbox(db, null, async () => {}).offer(db, 'm8', flow('wrun_a'))).toBe(false);
  });

  test('a handler still running after the flush delay has its messages enqueued at once; a failed flush holds them again', async () => {
    const enqueued: string[] = [];
    let fail = true;
    const flaky = async (sent: SentMessage[]) => {
      if (fail) throw new Error('connection lost');
      enqueued.push(...sent.map((s) => s.id));
    };
    const failed = new Outbox(db, 'wrun_a', flaky, 20);
    failed.offer(db, 'm1', step('wrun_a'));
    await sleep(60);
    expect((await failed.close()).map((s) => s.id)).toEqual(['m1']); // left to the result's statement

    const retried = new Outbox(db, 'wrun_a', flaky, 20);
    retried.offer(db, 'm2', step('wrun_a'));
    await sleep(60);
    fail = false;
    retried.offer(db, 'm3', step('wrun_a'));
    await sleep(60);
    expect(enqueued).toEqual(['m2', 'm3']);
    expect(await retried.close()).toEqual([]);
  });
});
