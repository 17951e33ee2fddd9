import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { resolveConfig } from '../../../src/config.js';
import { listDead, retryAllDead, retryDead } from '../../../src/queue/dead-letters.js';
import { backoffMs } from '../../../src/queue/backoff.js';
import { adminSql, databaseUrl } from '../../helpers/db.js';
import { messageRows, queueWorld, waitFor, WORKFLOW, STEP } from './helpers.js';

const cli = fileURLToPath(new URL('../../../src/cli/index.ts', import.meta.url));
function runCli(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', cli, ...args], { encoding: 'utf8', env: { ...process.env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('queue retries and dead letters', () => {
  test('backoff is exponential with jitter, capped; the default cap of attempts lets the runtime see attempt 49', () => {
    expect(resolveConfig({}, {}).queueMaxAttempts).toBeGreaterThanOrEqual(49);
    for (let attempt = 1; attempt <= 12; attempt++) {
      const ceiling = Math.min(1_000 * 2 ** (attempt - 1), 300_000);
      expect(backoffMs(attempt, 1_000, 300_000, () => 0)).toBe(ceiling / 2);
      expect(backoffMs(attempt, 1_000, 300_000, () => 0.999999)).toBeCloseTo(ceiling, -1);
    }
    expect(backoffMs(1_000, 1_000, 300_000, () => 1)).toBe(300_000);
  });

  test('a failing handler is retried with backoff and real attempt numbers, then dead-lettered; dlq retry re-drives it', async () => {
    const world = queueWorld({ queueMaxAttempts: 4, queueRetryBaseMs: 100, queueRetryMaxMs: 10_000 });
    const calls: { attempt: number; at: number }[] = [];
    let fail = true;
    world.createQueueHandler(STEP, async (_m, meta) => {
      calls.push({ attempt: meta.attempt, at: Date.now() });
      if (fail) throw new Error(`boom ${meta.attempt} with a \u0000 byte`);
    });
    await world.start();
    const messageId = (await world.queue(`${STEP}s`, { workflowName: 'w', workflowRunId: 'wrun_r', workflowStartedAt: 0, stepId: 's1' })).messageId!;
    await waitFor(async () => (await messageRows(world.schema))[0]?.state === 'dead', 'dead letter');
    expect(calls.map((c) => c.attempt)).toEqual([1, 2, 3, 4]);
    // equal jitter: the wait after attempt n is at least half of 100 ms × 2^(n-1)
    for (let n = 1; n < 4; n++) expect(calls[n]!.at - calls[n - 1]!.at).toBeGreaterThanOrEqual(50 * 2 ** (n - 1) - 5);
    const [row] = await messageRows(world.schema);
    expect(row).toMatchObject({ id: messageId, state: 'dead', attempt: 4, run_id: 'wrun_r' });
    expect(row!.last_error).toBe('Error: boom 4 with a \uFFFD byte');
    expect(world.queueMetrics()).toMatchObject({ retried: 3, deadLettered: 1, delivered: 0 });

    const sql = adminSql();
    expect((await listDead(sql, world.schema)).map((m) => m.id)).toEqual([messageId]);
    fail = false;
    expect(await retryDead(sql, world.schema, messageId)).toBe('retried');
    expect(await retryDead(sql, world.schema, messageId)).toBe('not_found');
    await waitFor(async () => (await messageRows(world.schema)).length === 0, 're-driven delivery');
    expect(calls.at(-1)!.attempt).toBe(1);
    expect(await listDead(sql, world.schema)).toEqual([]);
  });

  test('a dead letter whose key a live message has taken is superseded, not duplicated', async () => {
    const world = queueWorld({ queueMaxAttempts: 1 });
    let fail = true;
    world.createQueueHandler(STEP, async () => {
      if (fail) throw new Error('boom');
    });
    await world.start();
    const step = { workflowName: 'w', workflowRunId: 'wrun_k', workflowStartedAt: 0, stepId: 'step_k' };
    const first = (await world.queue(`${STEP}s`, step, { idempotencyKey: 'step_k' })).messageId!;
    await waitFor(async () => (await messageRows(world.schema))[0]?.state === 'dead', 'dead letter');
    await world.close();
    // a dead message no longer holds its key: the runtime's next dispatch creates a new message
    const again = queueWorld({ schema: world.schema });
    const second = (await again.queue(`${STEP}s`, step, { idempotencyKey: 'step_k' })).messageId!;
    expect(second).not.toBe(first);
    expect(await retryDead(adminSql(), world.schema, first)).toBe('superseded');
    fail = false;
    await again.start();
    await waitFor(async () => (await messageRows(world.schema)).find((r) => r.id === second)?.state === 'done', 'live message done');
    // the finished message keeps its key for the idempotency window, so the dead one stays superseded
    expect(await retryAllDead(adminSql(), world.schema)).toEqual({ retried: 0, not_found: 0, superseded: 1 });
    expect((await messageRows(world.schema)).map((r) => r.state).sort()).toEqual(['dead', 'done']);
  });

  test('CLI: dlq list and dlq retry --all', async () => {
    const world = queueWorld({ queueMaxAttempts: 1 });
    let fail = true;
    world.createQueueHandler(WORKFLOW, async () => {
      if (fail) throw new Error('cli boom');
    });
    await world.start();
    const ids = [];
    for (const runId of ['wrun_c1', 'wrun_c2']) ids.push((await world.queue(`${WORKFLOW}wf`, { runId })).messageId!);
    await waitFor(async () => (await messageRows(world.schema)).filter((r) => r.state === 'dead').length === 2, 'dead letters');

    const common = ['--url', databaseUrl, '--schema', world.schema];
    const listed = runCli(['dlq', 'list', '--json', ...common]);
    expect(listed.code).toBe(0);
    const parsed = JSON.parse(listed.out) as { total: number; messages: { id: string; lastError: string }[] };
    expect(parsed.total).toBe(2);
    expect(parsed.messages.map((m) => m.id).sort()).toEqual(ids.sort());
    expect(parsed.messages[0]!.lastError).toBe('Error: cli boom');
    expect(runCli(['dlq', 'list', ...common]).out).toContain('2 dead-lettered message(s)');
    expect(runCli(['dlq', 'retry', 'msg_unknown', ...common]).code).toBe(1);
    expect(runCli(['dlq', 'retry', ...common]).code).toBe(2);

    fail = false;
    const retried = runCli(['dlq', 'retry', '--all', ...common]);
    expect(retried.code).toBe(0);
    expect(retried.out).toContain('2 retried');
    await waitFor(async () => (await messageRows(world.schema)).length === 0, 're-driven deliveries');
  });
});
