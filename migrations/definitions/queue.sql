-- requires: 0002
-- The queue's statements, in the order a message meets them: claim_messages leases due messages,
-- claim_deliveries adds run_started's answer for the claimed workflow messages, finish_delivery
-- records a delivery's outcome, and complete_delivery ends a delivery, enqueues what its handler
-- sent to its own run (the delivery's outbox, src/queue/outbox.ts) and claims the worker's next
-- messages, so a step costs no separate enqueue, wake-up or claim round trip.

-- Leases up to p_limit due messages (pending and due, or leased with an expired lease), oldest
-- due first:
-- - `for update skip locked` lets any number of workers claim concurrently without waiting on
--   each other or taking the same row;
-- - a workflow message is taken only together with its run's lease (run_leases), so one run's
--   flow never executes twice at once in any process. Messages of a busy run are skipped by the
--   scan (they stay pending and run after it); the insert settles the remaining race between two
--   claims that both saw the run free, and `distinct on` keeps a single claim from taking two
--   messages of one run. Run leases are inserted in run id order so that two claims cannot
--   deadlock on each other's runs.
-- Index: messages_ready_idx (run_at, id) where state in ('pending', 'leased') (migrations/0002_queue.up.sql).
create or replace function :WORLD_SCHEMA.claim_messages(p_limit int, p_lease_ms bigint, p_kinds text[], p_owner text)
returns table (id text, queue_name text, kind text, run_id text, payload bytea, headers jsonb,
               attempt int, fence bigint, due_at timestamptz)
language plpgsql as $$
#variable_conflict use_column
begin
  return query
  with candidates as (
    select m.id, m.kind, m.run_id, m.run_at
      from :WORLD_SCHEMA.messages m
     where m.state in ('pending', 'leased') and m.run_at <= now()
       and m.kind = any(p_kinds)
       and not (m.kind = 'workflow' and m.run_id is not null and exists (
             select 1 from :WORLD_SCHEMA.run_leases l where l.run_id = m.run_id and l.expires_at > now()))
     order by m.run_at, m.id
     limit p_limit
     for update of m skip locked
  ),
  picked as (
    select distinct on (coalesce(case when c.kind = 'workflow' then c.run_id end, c.id)) c.id, c.kind, c.run_id, c.run_at
      from candidates c
     order by coalesce(case when c.kind = 'workflow' then c.run_id end, c.id), c.run_at, c.id
  ),
  run_leased as (
    insert into :WORLD_SCHEMA.run_leases as l (run_id, message_id, expires_at)
    select p.run_id, p.id, now() + p_lease_ms * interval '1 millisecond'
      from picked p where p.kind = 'workflow' and p.run_id is not null
     order by p.run_id
    on conflict (run_id) do update
       set message_id = excluded.message_id, expires_at = excluded.expires_at
     where l.expires_at <= now()
    returning l.message_id
  )
  update :WORLD_SCHEMA.messages m
     set state = 'leased', attempt = m.attempt + 1, fence = m.fence + 1, lease_owner = p_owner,
         run_at = now() + p_lease_ms * interval '1 millisecond', updated_at = now(),
         last_error = case when m.state = 'leased'
                           then 'lease expired during delivery ' || m.attempt || ' (worker stopped or stalled)'
                           else m.last_error end
    from picked p
   where m.id = p.id
     and (p.kind <> 'workflow' or p.run_id is null or p.id in (select r.message_id from run_leased r))
  returning m.id, m.queue_name, m.kind, m.run_id, m.payload, m.headers, m.attempt, m.fence, p.run_at;
end $$;

-- claim_messages, plus for each claimed workflow message of a running run what run_started
-- would answer now (append_run_started_log in run-start.sql), when p_max_events > 0: the worker
-- hands it to the delivery, whose run_started then needs no statement of its own. Only a running
-- run is read, so nothing is written (a running run is started without a lock or write).
-- Rows say what they are: row_kind 'message' (a claimed message), followed by that message's
-- run rows, 'run' and 'event', as append_run_started_log returns them (run_id set).
create or replace function :WORLD_SCHEMA.claim_deliveries(
  p_limit int, p_lease_ms bigint, p_kinds text[], p_owner text, p_max_events int)
returns table (
  row_kind text,
  -- 'message' rows
  id text, queue_name text, kind text, run_id text, payload bytea, headers jsonb, attempt int, fence bigint, due_at timestamptz,
  -- 'run' and 'event' rows (see append_run_started_log)
  outcome text, detail text, entity jsonb, input_data bytea, result_data bytea, event_pk bigint, event_id text, event_type text, created_at timestamptz, correlation_id text, data bytea, spec_version int)
language plpgsql as $$
#variable_conflict use_column
declare
  c record;
begin
  for c in select * from :WORLD_SCHEMA.claim_messages(p_limit, p_lease_ms, p_kinds, p_owner) loop
    return query select 'message', c.id, c.queue_name, c.kind, c.run_id, c.payload, c.headers, c.attempt, c.fence, c.due_at,
      null::text, null::text, null::jsonb, null::bytea, null::bytea, null::bigint, null::text, null::text, null::timestamptz, null::text, null::bytea, null::int;
    if p_max_events > 0 and c.kind = 'workflow' and c.run_id is not null and exists (
        select 1 from :WORLD_SCHEMA.runs r
         where r.run_id = c.run_id and r.status = 'running' and :WORLD_SCHEMA.spec_problem(r.spec_version) is null) then
      return query select l.row_kind, null::text, null::text, null::text, c.run_id, null::bytea, null::jsonb, null::int, null::bigint, null::timestamptz,
        l.outcome, l.detail, l.entity, l.input_data, l.result_data, l.event_pk, l.event_id, l.event_type,
        l.created_at, l.correlation_id, l.data, l.spec_version
        from :WORLD_SCHEMA.append_run_started_log(c.run_id, :SPEC_VERSION_CURRENT, false, null, null, null, null, p_max_events) l;
    end if;
  end loop;
end $$;

-- Ends one delivery, fenced on (id, fence): 'done' (deleted, or kept as 'done' while its
-- idempotency key must keep answering), 'retry' and 'reschedule' (pending again after p_delay_ms;
-- a reschedule is not a failure and restarts the attempt count), 'release' (handed back unfinished
-- at shutdown, the attempt not counted), 'dead'. Frees the run lease of a workflow message.
-- Returns 'lost' when the lease was lost (nothing changed), 'wake' when a message became
-- claimable (the caller notifies the workers after commit, see src/queue/wake.ts), else 'ok'.
create or replace function :WORLD_SCHEMA.finish_delivery(
  p_id text, p_fence bigint, p_outcome text, p_delay_ms bigint, p_error text, p_keep_done boolean)
returns text language plpgsql as $$
declare
  m :WORLD_SCHEMA.messages;
  v_wake boolean := p_outcome in ('retry', 'reschedule', 'release');
begin
  select * into m from :WORLD_SCHEMA.messages
   where id = p_id and fence = p_fence and state = 'leased' for update;
  if not found then
    return 'lost';
  end if;
  if p_outcome = 'done' and not (p_keep_done and m.idempotency_key is not null) then
    delete from :WORLD_SCHEMA.messages where id = p_id;
  elsif p_outcome in ('done', 'dead') then
    update :WORLD_SCHEMA.messages
       set state = p_outcome, finished_at = now(), updated_at = now(), lease_owner = null,
           last_error = coalesce(p_error, last_error)
     where id = p_id;
  elsif p_outcome in ('retry', 'reschedule', 'release') then
    update :WORLD_SCHEMA.messages
       set state = 'pending', run_at = now() + p_delay_ms * interval '1 millisecond',
           attempt = case p_outcome when 'reschedule' then 0 when 'release' then attempt - 1 else attempt end,
           last_error = case when p_outcome = 'retry' then p_error else last_error end,
           lease_owner = null, updated_at = now()
     where id = p_id;
  else
    raise exception 'finish_delivery: unknown outcome %', p_outcome using errcode = '22023';
  end if;
  if m.kind = 'workflow' and m.run_id is not null then
    delete from :WORLD_SCHEMA.run_leases where run_id = m.run_id and message_id = p_id;
    -- a workflow message of this run that waited for the lease can go now
    v_wake := v_wake or (found and exists (
      select 1 from :WORLD_SCHEMA.messages
       where run_id = m.run_id and kind = 'workflow' and state = 'pending' and run_at <= now()));
  end if;
  return case when v_wake then 'wake' else 'ok' end;
end $$;

-- Ends a delivery (finish_delivery), then enqueues what its handler sent (p_sent_*: one array
-- element per message, all text[]: payloads as base64 and headers as JSON text, so no driver
-- needs to know bytea[] or jsonb[], and base64 encodes far faster than the driver's hex), then
-- claims up to p_claim_limit messages for the worker's free slots, in due order
-- (claim_deliveries): the handler's own follow-up is taken only when nothing older waits.
-- Called with named arguments (src/queue/complete.ts). Returns claim_deliveries' rows, then one
-- row_kind 'finished' row whose `finished` says how the delivery ended: 'lost' (lease lost:
-- nothing written, the message is delivered again and its handler sends again), 'wake' (a
-- message became claimable that no claim here took and no older waiting one announced: the
-- caller notifies the workers after commit), else 'ok'.
create or replace function :WORLD_SCHEMA.complete_delivery(
  p_id text, p_fence bigint, p_outcome text, p_delay_ms bigint, p_error text, p_keep_done boolean,
  p_sent_ids text[], p_sent_queues text[], p_sent_kinds text[], p_sent_runs text[],
  p_sent_payloads text[], p_sent_headers text[], p_sent_keys text[], p_sent_delays bigint[],
  p_idempotency_window_ms bigint, p_claim_limit int, p_lease_ms bigint, p_kinds text[], p_owner text,
  p_max_events int)
returns table (
  row_kind text,
  -- 'message' rows, then their 'run' and 'event' rows, as claim_deliveries returns them
  id text, queue_name text, kind text, run_id text, payload bytea, headers jsonb, attempt int, fence bigint, due_at timestamptz,
  outcome text, detail text, entity jsonb, input_data bytea, result_data bytea, event_pk bigint, event_id text, event_type text, created_at timestamptz, correlation_id text, data bytea, spec_version int,
  -- the 'finished' row
  finished text)
language plpgsql as $$
#variable_conflict use_column
declare
  v_finished text := :WORLD_SCHEMA.finish_delivery(p_id, p_fence, p_outcome, p_delay_ms, p_error, p_keep_done);
  v_key text;
begin
  if v_finished <> 'lost' and cardinality(p_sent_ids) > 0 then
    -- a finished message past its idempotency window frees its key (as src/queue/enqueue.ts does);
    -- looked up key by key: finished messages pile up, and a scan of messages_done_idx would
    -- visit every one past the window that the sweeper has not removed yet (finished_at is
    -- wrapped in an expression so that the planner cannot pick that index)
    foreach v_key in array p_sent_keys loop
      continue when v_key is null;
      delete from :WORLD_SCHEMA.messages m
       where m.idempotency_key = v_key and m.state = 'done'
         and m.finished_at + p_idempotency_window_ms * interval '1 millisecond' <= now();
    end loop;
    -- a key still held, or an id already inserted by an earlier flush, is skipped
    insert into :WORLD_SCHEMA.messages (id, queue_name, kind, run_id, payload, headers, idempotency_key, run_at)
    select s.id, s.queue_name, s.kind, s.run_id, decode(s.payload, 'base64'), s.headers::jsonb, s.key,
           now() + s.delay_ms * interval '1 millisecond'
      from unnest(p_sent_ids, p_sent_queues, p_sent_kinds, p_sent_runs, p_sent_payloads, p_sent_headers,
                  p_sent_keys, p_sent_delays) as s(id, queue_name, kind, run_id, payload, headers, key, delay_ms)
    on conflict do nothing;
  end if;
  if p_claim_limit > 0 then
    return query select c.*, null::text
      from :WORLD_SCHEMA.claim_deliveries(p_claim_limit, p_lease_ms, p_kinds, p_owner, p_max_events) c;
  end if;
  -- A sent message left pending wakes the other workers, unless an older one that the same
  -- workers could claim is waiting too: that one was announced, and every finishing delivery
  -- claims in due order, so the newer one is reached without another NOTIFY (each costs a
  -- statement and serialises commits). A delayed one is announced: sleeping workers then
  -- recompute when to look again.
  if v_finished = 'ok' and cardinality(p_sent_ids) > 0 and exists (
      select 1 from :WORLD_SCHEMA.messages s
       where s.id = any(p_sent_ids) and s.state = 'pending'
         and (s.run_at > now() or not exists (
               select 1 from :WORLD_SCHEMA.messages o
                where o.state in ('pending', 'leased') and o.run_at <= now()
                  and (o.run_at, o.id) < (s.run_at, s.id) and o.kind = s.kind
                  and not (o.kind = 'workflow' and o.run_id is not null and exists (
                        select 1 from :WORLD_SCHEMA.run_leases l where l.run_id = o.run_id and l.expires_at > now()))))) then
    v_finished := 'wake';
  end if;
  return query select 'finished', null::text, null::text, null::text, null::text, null::bytea, null::jsonb, null::int, null::bigint, null::timestamptz,
    null::text, null::text, null::jsonb, null::bytea, null::bytea, null::bigint, null::text, null::text, null::timestamptz, null::text, null::bytea, null::int, v_finished;
end $$;
