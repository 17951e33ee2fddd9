import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { resolveConfig } from '../../../src/config.js';
import { isListening } from '../../../src/db/listener.js';
import { adminSql, databaseUrl } from '../../helpers/db.js';
import { freshSchema, messageRows, queueWorld, STEP, waitFor, WORKFLOW, type QueueTestWorld } from './helpers.js';

/** Terminates this test's backends (matched by application name), never another test's. */
async function terminate(applicationName: string, only?: 'listen'): Promise<number> {
  const pattern = only === 'listen' ? `${applicationName}:listen` : `${applicationName}%`;
  const rows = await adminSql().unsafe(
    `select pg_terminate_backend(pid) from pg_stat_activity where application_name like $1 and pid <> pg_backend_pid()`,
    [pattern],
  );
  return rows.length;
}

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeEach(() => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
  process.on('uncaughtException', onUnhandled);
});
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
  process.off('uncaughtException', onUnhandled);
});

async function enqueueMix(world: QueueTestWorld, count: number, tag: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, count - i) }, (_, j) =>
        (i + j) % 4 === 0
          ? world.queue(`${WORKFLOW}wf`, { runId: `wrun_${tag}_${(i + j) % 20}` })
          : world.queue(`${STEP}s`, { workflowName: 'wf', workflowRunId: `wrun_${tag}`, workflowStartedAt: 0, stepId: `step_${tag}_${i + j}` }),
      ),
    );
    ids.push(...batch.map((r) => r.messageId!));
  }
  return ids;
}

function countingHandler(handled: Map<string, number>) {
  return async (_message: unknown, meta: { messageId: string }) => {
    await sleep(2);
    handled.set(meta.messageId, (handled.get(meta.messageId) ?? 0) + 1);
  };
}

describe('queue across terminated connections', () => {
  test('the LISTEN connection is terminated during a load: delivery goes on and the listener comes back', async () => {
    const applicationName = `wwp-listen-${randomBytes(4).toString('hex')}`;
    const world = queueWorld({ applicationName, queueConcurrency: 8 });
    const handled = new Map<string, number>();
    world.createQueueHandler(WORKFLOW, countingHandler(handled));
    world.createQueueHandler(STEP, countingHandler(handled));
    await world.start();
    const config = resolveConfig({ connectionString: databaseUrl, applicationName });
    await waitFor(() => isListening(config), 'the listener');

    const first = enqueueMix(world, 300, 'a');
    await sleep(100);
    expect(await terminate(applicationName, 'listen')).toBe(1);
    const ids = [...(await first), ...(await enqueueMix(world, 300, 'b'))];
    await waitFor(() => ids.every((id) => handled.has(id)), 'every delivery');
    await waitFor(() => isListening(config), 'the listener to come back');
    const [listen] = await adminSql().unsafe(
      `select count(*)::int as n from pg_stat_activity where application_name = $1`,
      [`${applicationName}:listen`],
    );
    expect(listen!.n).toBe(1);
    await waitFor(async () => (await messageRows(world.schema)).length === 0, 'every acknowledgement');
    expect(unhandled).toEqual([]);
  });

  test('every connection of the World terminated three times while messages flow: no crash, every message completes', async () => {
    const applicationName = `wwp-kill-${randomBytes(4).toString('hex')}`;
    const schema = freshSchema();
    const worlds = [0, 1].map(() => queueWorld({ applicationName, schema, queueConcurrency: 8, queueLeaseMs: 2_000 }));
    const handled = new Map<string, number>();
    worlds[0]!.createQueueHandler(WORKFLOW, countingHandler(handled));
    worlds[0]!.createQueueHandler(STEP, countingHandler(handled));
    await Promise.all(worlds.map((w) => w.start()));

    const producing = enqueueMix(worlds[0]!, 1_500, 'k');
    let kills = 0;
    for (let round = 0; round < 3; round++) {
      await sleep(250);
      kills += await terminate(applicationName);
    }
    const ids = await producing;
    expect(kills).toBeGreaterThanOrEqual(3);
    await waitFor(() => ids.every((id) => handled.has(id)), 'every delivery', 60_000);
    await waitFor(async () => (await messageRows(worlds[0]!.schema)).length === 0, 'every acknowledgement', 30_000);
    expect(unhandled).toEqual([]);
  }, 120_000);
});
