import postgres from 'postgres';
import { describe, expect, test } from 'vitest';
import { channelName } from '../../../src/db/listener.js';
import { createWaker } from '../../../src/queue/wake.js';
import { databaseUrl, freshSchema } from '../../helpers/db.js';
import { internalDb, messageRows, queueWorld, waitFor, WORKFLOW } from './helpers.js';

/**
 * Wake-ups (src/queue/wake.ts and the NOTIFYs of migrations/definitions/queue.sql). Every World
 * here polls every 10 minutes, longer than the test: what is delivered was woken.
 */
const NO_POLL = { queuePollMs: 600_000 };

describe('wake-ups', () => {
  test('a worker is woken by a handler registering, by an enqueue from another World, and by a retry', async () => {
    const worker = queueWorld(NO_POLL);
    const enqueuer = queueWorld({ ...NO_POLL, schema: worker.schema }); // never started: only enqueues
    await worker.start();
    await enqueuer.queue(`${WORKFLOW}wf`, { runId: 'wrun_before_handler' });
    const handled: string[] = [];
    let failFirst = true;
    // no handler yet: the worker claims nothing until one registers
    worker.createQueueHandler(WORKFLOW, async (message, meta) => {
      const { runId } = message as { runId: string };
      handled.push(`${runId}#${meta.attempt}`);
      if (runId === 'wrun_retried' && failFirst) {
        failFirst = false;
        throw new Error('first attempt fails');
      }
    });
    await waitFor(() => handled.includes('wrun_before_handler#1'), 'the delivery woken by the registration');
    await waitFor(async () => (await messageRows(worker.schema)).length === 0, 'the first delivery to finish');

    await enqueuer.queue(`${WORKFLOW}wf`, { runId: 'wrun_enqueued' });
    await waitFor(() => handled.includes('wrun_enqueued#1'), 'the delivery woken by the enqueue');

    await enqueuer.queue(`${WORKFLOW}wf`, { runId: 'wrun_retried' });
    await waitFor(() => handled.includes('wrun_retried#2'), 'the retry');
    expect(handled).toEqual(['wrun_before_handler#1', 'wrun_enqueued#1', 'wrun_retried#1', 'wrun_retried#2']);
    await waitFor(async () => (await messageRows(worker.schema)).length === 0, 'the retry to finish');
    expect(worker.queueMetrics()).toMatchObject({ delivered: 3, retried: 1 });
  });

  test('a lease handed back at shutdown wakes another worker, which then runs the rest of the run', async () => {
    const a = queueWorld({ ...NO_POLL, queueLeaseMs: 60_000, shutdownTimeoutMs: 100 });
    const b = queueWorld({ ...NO_POLL, schema: a.schema });
    const seen: string[] = [];
    let holdInA = true;
    a.createQueueHandler(WORKFLOW, async (message, meta) => {
      seen.push(`${(message as { hop: number }).hop}#${meta.attempt}`);
      if (holdInA) await new Promise(() => {}); // still running at shutdown
    });
    await a.start();
    await a.queue(`${WORKFLOW}wf`, { runId: 'wrun_handed_back', hop: 1 } as never);
    await waitFor(() => seen.length === 1, 'the first delivery in A');
    await a.queue(`${WORKFLOW}wf`, { runId: 'wrun_handed_back', hop: 2 } as never); // waits for the run's lease
    await b.start(); // idle: the run is leased by A for a minute
    holdInA = false; // the process-wide handler now returns at once (B delivers through it too)
    await a.close(); // hands hop 1 back: pending, due now
    await waitFor(async () => (await messageRows(a.schema)).length === 0, 'B to deliver both hops');
    // hop 1 again (the release does not count an attempt) and hop 2, in due order (hop 2 was
    // enqueued before hop 1 was handed back); A delivered nothing more after its stop
    expect(seen.slice(0, 1)).toEqual(['1#1']);
    expect(seen.slice(1).sort()).toEqual(['1#1', '2#1']);
    expect(b.queueMetrics().delivered).toBe(2);
  });

  test('a burst of wake-ups sends at most one NOTIFY per 10 ms, and the last one is never dropped', async () => {
    const schema = freshSchema();
    const channel = channelName(schema, 'queue');
    const listener = postgres(databaseUrl, { max: 1, onnotice: () => {} });
    let received = 0;
    await listener.listen(channel, () => void received++);
    try {
      const waker = createWaker(internalDb(schema), channel);
      const startedAt = Date.now();
      for (let i = 0; i < 300; i++) {
        await waker.wake();
        if (i % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      await waker.flush(); // the trailing one of the burst
      const elapsed = Date.now() - startedAt;
      await waitFor(() => received > 0, 'the notifications');
      await new Promise((resolve) => setTimeout(resolve, 200)); // late deliveries of the burst
      // counted against the burst's own duration: a slow machine allows more, never fewer
      expect(received).toBeGreaterThanOrEqual(1);
      expect(received).toBeLessThanOrEqual(Math.ceil(elapsed / 10) + 2);
      expect(received).toBeLessThan(300);
    } finally {
      await listener.end({ timeout: 1 });
    }
  });
});
