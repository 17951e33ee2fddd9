import { describe, expect, test } from 'vitest';
import { adminSql, databaseUrl } from '../../helpers/db.js';
import { messageRows, queueWorld, spawnWorld, STEP, waitFor, WORKFLOW } from './helpers.js';

describe('per-run serialisation', () => {
  test('two processes: a run never has two workflow deliveries at once, its steps still run in parallel, nothing is dropped', async () => {
    const world = queueWorld();
    const s = `"${world.schema}"`;
    const RUNS = 10;
    const PER_RUN = 8;
    const sent: string[] = [];
    for (let r = 0; r < RUNS; r++) {
      for (let i = 0; i < PER_RUN; i++) {
        sent.push((await world.queue(`${WORKFLOW}wf`, { runId: `wrun_${r}` })).messageId!);
        sent.push(
          (await world.queue(`${STEP}s`, { workflowName: 'wf', workflowRunId: `wrun_${r}`, workflowStartedAt: 0, stepId: `step_${r}_${i}` }))
            .messageId!,
        );
      }
    }
    const sql = adminSql();
    await sql.unsafe(`
      create table ${s}.active_runs (run_id text primary key, message_id text not null);
      create table ${s}.violations (run_id text, message_id text);
      create table ${s}.handled (message_id text, pid int);
      create table ${s}.active_steps (message_id text primary key, run_id text);
      create table ${s}.step_overlap (run_id text, n int);`);

    const options = { connectionString: databaseUrl, schema: world.schema, queueConcurrency: 8, queueLeaseMs: 10_000, queuePollMs: 200, queueReconcileIntervalMs: 0 };
    const children = [spawnWorld({ mode: 'consume', handler: 'record', options }), spawnWorld({ mode: 'consume', handler: 'record', options })];
    await waitFor(async () => (await sql.unsafe(`select count(*)::int as n from ${s}.handled`))[0]!.n >= sent.length, 'every delivery', 60_000);
    await waitFor(async () => (await messageRows(world.schema)).length === 0, 'every acknowledgement');
    await Promise.all(children.map((c) => c.stop()));

    expect(await sql.unsafe(`select * from ${s}.violations`)).toEqual([]);
    const handled = await sql.unsafe<{ message_id: string; pid: number }[]>(`select message_id, pid from ${s}.handled`);
    expect(handled.map((h) => h.message_id).sort()).toEqual([...sent].sort());
    expect(new Set(handled.map((h) => h.pid)).size).toBe(2);
    const [overlap] = await sql.unsafe<{ n: number }[]>(`select max(n)::int as n from ${s}.step_overlap`);
    expect(overlap!.n).toBeGreaterThanOrEqual(2);
  }, 90_000);
});
