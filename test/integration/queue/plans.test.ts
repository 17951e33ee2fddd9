import { describe, expect, test } from 'vitest';
import { claimSql, nextDueSql } from '../../../src/queue/claim.js';
import { keyHolderSql } from '../../../src/queue/enqueue.js';
import { adminSql } from '../../helpers/db.js';
import { queueWorld, STEP, WORKFLOW } from './helpers.js';

/** Every hot statement of the queue is served by the index named in migrations/0002_queue.up.sql. */
describe('queue query plans', () => {
  test('claim, next due and idempotency lookups scan their indexes', async () => {
    const world = queueWorld();
    for (let i = 0; i < 300; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, j) =>
          (i + j) % 3
            ? world.queue(`${STEP}s`, { workflowName: 'w', workflowRunId: 'wrun_p', workflowStartedAt: 0, stepId: `s${i + j}` }, { idempotencyKey: `k${i + j}` })
            : world.queue(`${WORKFLOW}w`, { runId: `wrun_${(i + j) % 7}` }, { delaySeconds: (i + j) % 2 }),
        ),
      );
    }
    const s = `"${world.schema}"`;
    // explain only plans the statement (the claim is not run); seq scans off so that the
    // planner shows whether an index can serve it on this small table
    const explain = async (text: string, params: unknown[]) =>
      adminSql().begin(async (tx) => {
        await tx.unsafe(`analyze ${s}.messages`);
        await tx.unsafe('set local enable_seqscan = off');
        const rows = await tx.unsafe(`explain ${text}`, params as never[]);
        return rows.map((r) => r['QUERY PLAN'] as string).join('\n');
      });
    expect(await explain(claimSql(s), [10, 30_000, ['workflow', 'step'], 'owner'])).toMatch(/Index Scan using messages_ready_idx/);
    expect(await explain(nextDueSql(s), [['workflow', 'step']])).toMatch(/Index Scan using messages_ready_idx/);
    expect(await explain(keyHolderSql(s), ['k5', 60_000])).toMatch(/Index Scan using messages_idempotency_key_idx/);
  });
});
