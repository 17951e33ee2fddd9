import postgres from 'postgres';
import { describe, expect, test } from 'vitest';
import { withinDeadline } from '../../../src/db/deadline.js';
import { isSafeToRetry } from '../../../src/db/sqlstate.js';
import { adminSql, freshSchema, testWorld } from '../../helpers/db.js';
import { bytes, createRun, rejection } from '../../helpers/runs.js';
import { startTcpProxy } from '../../helpers/tcp-proxy.js';

/**
 * What a connection failure does to a statement (src/db/transient-retry.ts, deadline.ts): reads
 * are sent again; a write whose reply was lost is not (it may have been applied), and surfaces as
 * a 503 the runtime redelivers; a statement on a connection that stopped answering gives up at
 * its deadline. Each failure is real, made by a TCP proxy between the World and the server.
 */
describe('statements across connection failures', () => {
  test('a write whose reply is lost is applied once and not sent again (503); a read is sent again and answers', async () => {
    const p = await startTcpProxy();
    const schema = freshSchema();
    const world = testWorld({ connectionString: p.url, schema });
    const runId = await createRun(world, { started: true });

    const cut = p.cutAfterNextStatement();
    const lost = await rejection(
      world.events.create(runId, { eventType: 'step_created', correlationId: 'step_cut', eventData: { stepName: 's', input: bytes(1) } }),
    );
    await cut;
    expect(lost).toMatchObject({ name: 'WorkflowWorldError', status: 503, code: 'TRANSPORT' });
    // the server ran it exactly once: neither lost nor doubled
    const events = await adminSql().unsafe<{ n: number }[]>(
      `select count(*)::int as n from "${schema}".events where run_id = $1 and correlation_id = 'step_cut'`,
      [runId],
    );
    expect(events[0]?.n).toBe(1);
    // the runtime's redelivery replays and finds the step: the repeat is a conflict, not a second step
    const again = await rejection(
      world.events.create(runId, { eventType: 'step_created', correlationId: 'step_cut', eventData: { stepName: 's', input: bytes(1) } }),
    );
    expect(again.name).toBe('EntityConflictError');

    const readCut = p.cutAfterNextStatement();
    const run = await world.runs.get(runId); // cut once, sent again on a new connection
    await readCut;
    expect(run.runId).toBe(runId);
  });

  test('a statement on a connection that stopped answering gives up at its deadline with a retryable error', async () => {
    const p = await startTcpProxy();
    const sql = postgres(p.url, { max: 1, fetch_types: false, onnotice: () => {} });
    try {
      expect((await sql`select 1 as one`)[0]?.one).toBe(1);
      p.freeze(); // the socket stays open; nothing comes back
      const error = await rejection(withinDeadline(sql`select 2`, 300, 'the frozen statement'));
      expect(error).toMatchObject({ code: 'QUERY_DEADLINE' });
      expect(error.message).toContain('the frozen statement did not answer within 300 ms');
      // it may still run (or have run) on the server: only idempotent statements repeat it
      expect(isSafeToRetry(error, true)).toBe(true);
      expect(isSafeToRetry(error, false)).toBe(false);
    } finally {
      await sql.end({ timeout: 1 });
    }
  });
});
