import type { Sql } from 'postgres';
import { quoteIdent } from '../db/ident.js';
import { channelName } from '../db/listener.js';
import { UNIQUE_VIOLATION, errorCode } from '../db/sqlstate.js';

/**
 * Dead letters: messages whose last attempt failed. They stay in `messages` with state 'dead'
 * (payload, queue, run id, last error) until re-driven; the CLI's `dlq list|retry` calls these.
 */
export interface DeadMessage {
  id: string;
  queueName: string;
  runId: string | null;
  attempt: number;
  lastError: string | null;
  createdAt: Date;
  finishedAt: Date;
}

/** Dead letters, most recent first. Index: messages_dead_idx. */
export async function listDead(sql: Sql, schema: string, opts: { limit?: number } = {}): Promise<DeadMessage[]> {
  const limit = Math.min(Math.max(opts.limit ?? 100, 1), 10_000);
  return sql.unsafe<DeadMessage[]>(
    `select id, queue_name as "queueName", run_id as "runId", attempt, last_error as "lastError",
            created_at as "createdAt", finished_at as "finishedAt"
       from ${quoteIdent(schema)}.messages
      where state = 'dead'
      order by finished_at desc, id desc
      limit $1`,
    [limit],
  );
}

export async function countDead(sql: Sql, schema: string): Promise<number> {
  const [row] = await sql.unsafe<{ n: number }[]>(
    `select count(*)::int as n from ${quoteIdent(schema)}.messages where state = 'dead'`,
  );
  return row?.n ?? 0;
}

export type RetryResult = 'retried' | 'not_found' | 'superseded';

/**
 * Makes a dead letter pending again, due now, with a fresh attempt count, and wakes the
 * workers. 'superseded' when a live message has since taken its idempotency key (that message
 * does the work; the dead one stays for inspection).
 */
export async function retryDead(sql: Sql, schema: string, id: string): Promise<RetryResult> {
  try {
    const rows = await sql.unsafe(
      `with retried as (
         update ${quoteIdent(schema)}.messages
            set state = 'pending', attempt = 0, run_at = now(), finished_at = null, updated_at = now()
          where id = $1 and state = 'dead'
         returning id
       )
       select retried.id from retried cross join lateral (select pg_notify($2, retried.id)) n`,
      [id, channelName(schema, 'queue')],
    );
    return rows.length > 0 ? 'retried' : 'not_found';
  } catch (error) {
    if (errorCode(error) === UNIQUE_VIOLATION) return 'superseded';
    throw error;
  }
}

/** Re-drives every dead letter, one by one so that one superseded message does not stop the rest. */
export async function retryAllDead(sql: Sql, schema: string): Promise<Record<RetryResult, number>> {
  const counts: Record<RetryResult, number> = { retried: 0, not_found: 0, superseded: 0 };
  const ids = await sql.unsafe<{ id: string }[]>(
    `select id from ${quoteIdent(schema)}.messages where state = 'dead' order by finished_at, id`,
  );
  for (const { id } of ids) counts[await retryDead(sql, schema, id)]++;
  return counts;
}
