import type { QueueKind } from '@workflow/world';
import type { Db } from '../db/client.js';
import { QUEUE_STATEMENT_DEADLINE_MS, withinDeadline } from '../db/deadline.js';

/** A message leased to this worker; `fence` must accompany every later write of the delivery. */
export interface ClaimedMessage {
  id: string;
  queueName: string;
  kind: QueueKind;
  runId: string | null;
  payload: Uint8Array;
  headers: Record<string, string> | null;
  attempt: number;
  fence: string;
}

/**
 * Leases up to `limit` due messages (pending and due, or leased with an expired lease) in one
 * statement, oldest due first:
 * - `for update skip locked` lets any number of workers claim concurrently without waiting on
 *   each other or taking the same row;
 * - a workflow message is taken only together with its run's lease (`run_leases`), so one
 *   run's flow never executes twice at once in any process. Messages of a busy run are skipped
 *   by the scan (they stay pending and run after it); the insert settles the remaining race
 *   between two claims that both saw the run free, and `distinct on` keeps a single claim from
 *   taking two messages of one run. Run leases are inserted in run id order so that two claims
 *   cannot deadlock on each other's runs.
 * Index: messages_ready_idx (run_at, id) where state in ('pending', 'leased').
 */
export const claimSql = (s: string) =>
  `with candidates as (
     select m.id, m.kind, m.run_id, m.run_at
       from ${s}.messages m
      where m.state in ('pending', 'leased') and m.run_at <= now()
        and m.kind = any($3::text[])
        and not (m.kind = 'workflow' and m.run_id is not null and exists (
              select 1 from ${s}.run_leases l where l.run_id = m.run_id and l.expires_at > now()))
      order by m.run_at, m.id
      limit $1
      for update of m skip locked
   ),
   picked as (
     select distinct on (coalesce(case when kind = 'workflow' then run_id end, id)) id, kind, run_id
       from candidates
      order by coalesce(case when kind = 'workflow' then run_id end, id), run_at, id
   ),
   run_leased as (
     insert into ${s}.run_leases (run_id, message_id, expires_at)
     select run_id, id, now() + $2 * interval '1 millisecond'
       from picked where kind = 'workflow' and run_id is not null
      order by run_id
     on conflict (run_id) do update
        set message_id = excluded.message_id, expires_at = excluded.expires_at
      where ${s}.run_leases.expires_at <= now()
     returning message_id
   )
   update ${s}.messages m
      set state = 'leased', attempt = m.attempt + 1, fence = m.fence + 1, lease_owner = $4,
          run_at = now() + $2 * interval '1 millisecond', updated_at = now(),
          last_error = case when m.state = 'leased'
                            then 'lease expired during delivery ' || m.attempt || ' (worker stopped or stalled)'
                            else m.last_error end
     from picked p
    where m.id = p.id
      and (p.kind <> 'workflow' or p.run_id is null or p.id in (select message_id from run_leased))
   returning m.id, m.queue_name as "queueName", m.kind, m.run_id as "runId", m.payload, m.headers,
             m.attempt, m.fence`;

export async function claimMessages(
  db: Db,
  opts: { limit: number; owner: string; leaseMs: number; kinds: QueueKind[] },
): Promise<ClaimedMessage[]> {
  const rows = await withinDeadline(
    db.sql.unsafe<(Omit<ClaimedMessage, 'fence'> & { fence: string })[]>(
      claimSql(db.ident),
      [opts.limit, opts.leaseMs, opts.kinds, opts.owner] as never[],
      { prepare: db.config.prepare },
    ),
    QUEUE_STATEMENT_DEADLINE_MS,
    'claiming messages',
  );
  return rows.map((r) => ({ ...r, fence: String(r.fence) }));
}

/**
 * Milliseconds until the earliest delayed message of `kinds` falls due, or undefined when none
 * is waiting; the worker sleeps that long (bounded by its poll interval). Database clock only,
 * so app servers with skewed clocks agree. Index: messages_ready_idx.
 */
export const nextDueSql = (s: string) =>
  `select least(ceil(extract(epoch from (run_at - now())) * 1000), 86400000)::int as ms
     from ${s}.messages
    where state = 'pending' and run_at > now() and kind = any($1::text[])
    order by run_at, id
    limit 1`;

export async function nextDueMs(db: Db, kinds: QueueKind[]): Promise<number | undefined> {
  const [row] = await withinDeadline(
    db.sql.unsafe<{ ms: number }[]>(nextDueSql(db.ident), [kinds] as never[], { prepare: db.config.prepare }),
    QUEUE_STATEMENT_DEADLINE_MS,
    'finding the next due message',
  );
  return row ? Math.max(0, row.ms) : undefined;
}
