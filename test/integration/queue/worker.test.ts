import { describe, expect, test } from 'vitest';
import { freshSchema, messageRows, queueWorld, STEP, waitFor, WORKFLOW } from './helpers.js';

describe('queue under load', () => {
  test('3 Worlds on one schema, 5,000 messages: each handled once, never twice at once, within every concurrency bound', async () => {
    const TOTAL = 5_000;
    const RUNS = 100;
    const CONCURRENCY = 8;
    const schema = freshSchema();
    // a long lease: this test is about claiming, not about lease expiry on a loaded machine
    const worlds = [0, 1, 2].map(() => queueWorld({ schema, queueConcurrency: CONCURRENCY, queueLeaseMs: 30_000, poolSize: 10 }));

    const inFlight = new Set<string>();
    const activeRuns = new Set<string>();
    const handled = new Map<string, number>();
    const violations: string[] = [];
    let peakTotal = 0;
    const handler = async (message: unknown, meta: { messageId: string }) => {
      if (inFlight.has(meta.messageId)) violations.push(`message ${meta.messageId} delivered twice at once`);
      inFlight.add(meta.messageId);
      const runId = (message as { runId?: string }).runId;
      if (runId) {
        if (activeRuns.has(runId)) violations.push(`run ${runId} executed twice at once`);
        activeRuns.add(runId);
      }
      peakTotal = Math.max(peakTotal, inFlight.size);
      worlds.forEach((w, i) => {
        if (w.queueMetrics().inFlight > CONCURRENCY) violations.push(`world ${i} above its concurrency`);
      });
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
      if (runId) activeRuns.delete(runId);
      inFlight.delete(meta.messageId);
      handled.set(meta.messageId, (handled.get(meta.messageId) ?? 0) + 1);
    };
    worlds[0]!.createQueueHandler(WORKFLOW, handler);
    worlds[0]!.createQueueHandler(STEP, handler);
    await Promise.all(worlds.map((w) => w.start()));

    const ids: string[] = [];
    for (let batch = 0; batch < TOTAL; batch += 100) {
      const sent = await Promise.all(
        Array.from({ length: 100 }, (_, j) => {
          const i = batch + j;
          const w = worlds[i % 3]!;
          return i % 5 === 0
            ? w.queue(`${WORKFLOW}wf`, { runId: `wrun_${i % RUNS}` })
            : w.queue(`${STEP}s`, { workflowName: 'wf', workflowRunId: `wrun_${i % RUNS}`, workflowStartedAt: 0, stepId: `step_${i}` });
        }),
      );
      ids.push(...sent.map((r) => r.messageId!));
    }

    await waitFor(() => handled.size === TOTAL, `${TOTAL} deliveries`, 120_000);
    await waitFor(async () => (await messageRows(schema)).length === 0, 'every acknowledgement', 30_000);
    expect(violations).toEqual([]);
    expect(new Set(ids).size).toBe(TOTAL);
    expect([...handled.keys()].sort()).toEqual([...ids].sort());
    expect([...handled.values()].every((n) => n === 1)).toBe(true);
    expect(peakTotal).toBeLessThanOrEqual(3 * CONCURRENCY);
    const delivered = worlds.map((w) => w.queueMetrics().delivered);
    expect(delivered.reduce((a, b) => a + b, 0)).toBe(TOTAL);
    expect(delivered.every((n) => n > 0)).toBe(true);
  }, 180_000);
});
