import postgres from 'postgres';
import { describe, expect, test } from 'vitest';
import { nextDueSql } from '../../../src/queue/claim.js';
import { keyHolderSql } from '../../../src/queue/enqueue.js';
import { adminSql, databaseUrl } from '../../helpers/db.js';
import { queueWorld, STEP, WORKFLOW } from './helpers.js';

/** Every hot statement of the queue is served by the index named in migrations/0002_queue.up.sql (the statements: migrations/definitions/queue.sql). */
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
    // the claim runs inside plpgsql functions: auto_explain reports the plans of their statements
    const nestedPlans = async (exercise: (tx: postgres.TransactionSql) => Promise<unknown>): Promise<string> => {
      const notices: string[] = [];
      const sql = postgres(databaseUrl, { max: 1, onnotice: (n) => notices.push(String(n.message)) });
      try {
        await sql
          .begin(async (tx) => {
            await tx.unsafe(`analyze ${s}.messages`);
            await tx.unsafe('set local enable_seqscan = off');
            await tx.unsafe("load 'auto_explain'");
            await tx.unsafe('set local auto_explain.log_min_duration = 0');
            await tx.unsafe('set local auto_explain.log_nested_statements = on');
            await tx.unsafe('set local client_min_messages = log');
            await exercise(tx);
            throw new Error('rollback'); // the claim was real: undo it
          })
          .catch((error: Error) => {
            if (error.message !== 'rollback') throw error;
          });
      } finally {
        await sql.end();
      }
      return notices.join('\n');
    };
    const claim = (tx: postgres.TransactionSql, limit: number) =>
      tx.unsafe<{ id: string; fence: string }[]>(
        `select * from ${s}.claim_deliveries(${limit}, 30000, array['workflow', 'step'], 'owner', 1000) where id is not null`,
      );
    const claimPlans = await nestedPlans((tx) => claim(tx, 10));
    expect(claimPlans).toMatch(/Index Scan using messages_ready_idx/);
    expect(claimPlans).not.toMatch(/Seq Scan on messages/);
    const completePlans = await nestedPlans(async (tx) => {
      // finished messages kept for their keys, as a busy queue has them (set up unexplained)
      await tx.unsafe('set local auto_explain.log_min_duration = -1');
      await tx.unsafe(`update ${s}.messages set state = 'done', finished_at = now() where idempotency_key is not null`);
      await tx.unsafe(`analyze ${s}.messages`);
      await tx.unsafe('set local auto_explain.log_min_duration = 0');
      const [leased] = await claim(tx, 1);
      await tx.unsafe(
        `select * from ${s}.complete_delivery($1, $2, 'done', 0, null, true, array['msg_new'], array['${STEP}s'], array['step'],
           array['wrun_p'], array['AA=='], array[null]::text[], array['k_new'], array[0]::bigint[], 60000, 10, 30000,
           array['workflow', 'step'], 'owner', 1000)`,
        [leased!.id, leased!.fence],
      );
    });
    expect(completePlans).toMatch(/Index Scan using messages_ready_idx/);
    // freeing keys past their window: key by key
    expect(completePlans).toMatch(/Delete on messages m [^]*?Index Scan using messages_idempotency_key_idx/);
    expect(completePlans).not.toMatch(/Seq Scan on messages/);
    expect(await explain(nextDueSql(s), [['workflow', 'step']])).toMatch(/Index Scan using messages_ready_idx/);
    expect(await explain(keyHolderSql(s), ['k5', 60_000])).toMatch(/Index Scan using messages_idempotency_key_idx/);
  });
});
