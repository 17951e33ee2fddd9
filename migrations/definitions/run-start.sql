-- requires: 0001
-- run_started, which the runtime calls at the start of every workflow delivery: the state change
-- and, in the same statement, the run's event log, so the runtime replays without events.list.
-- The queue's claim (queue.sql, claim_deliveries) calls append_run_started_log for a running run
-- it hands to an in-process handler, whose run_started then costs no statement at all.

-- pending → running (startedAt set once), idempotent while running, refused when terminal.
-- With p_resilient, a missing run is first created from the message's run input.
create or replace function :WORLD_SCHEMA.append_run_started(
  p_run_id text, p_spec_version int, p_resilient boolean, p_deployment_id text,
  p_workflow_name text, p_execution_context bytea, p_created_data bytea)
returns :WORLD_SCHEMA.event_outcome language plpgsql as $$
declare
  l record;
  o :WORLD_SCHEMA.event_outcome;
begin
  -- A running run answers without a row lock, so the call writes nothing and its commit needs
  -- no WAL flush.
  perform 1 from :WORLD_SCHEMA.runs
   where run_id = p_run_id and status = 'running' and :WORLD_SCHEMA.spec_problem(spec_version) is null;
  if found then
    return :WORLD_SCHEMA.run_result(:WORLD_SCHEMA.no_event(), p_run_id);
  end if;
  select * into l from :WORLD_SCHEMA.lock_run(p_run_id);
  if l.problem = 'run_not_found' and p_resilient then
    -- a concurrent run_created may win; either way the run exists afterwards
    perform :WORLD_SCHEMA.insert_run(p_run_id, p_deployment_id, p_workflow_name, p_spec_version,
      p_execution_context, p_created_data);
    select * into l from :WORLD_SCHEMA.lock_run(p_run_id);
  end if;
  if l.problem is not null then return :WORLD_SCHEMA.failure(l.problem, l.detail); end if;
  if :WORLD_SCHEMA.is_terminal((l.r).status) then
    return :WORLD_SCHEMA.failure('run_terminal', 'run ' || p_run_id || ' is ' || (l.r).status);
  end if;
  if (l.r).status = 'running' then
    return :WORLD_SCHEMA.run_result(:WORLD_SCHEMA.no_event(), p_run_id);
  end if;
  o := :WORLD_SCHEMA.append_event(p_run_id, 'run_started', null, null, p_spec_version);
  update :WORLD_SCHEMA.runs
     set status = 'running', started_at = coalesce(started_at, o.created_at), updated_at = o.created_at
   where run_id = p_run_id;
  return :WORLD_SCHEMA.run_result(o, p_run_id);
end $$;

-- append_run_started, then the run's event log when it is short. Rows say what they are:
-- row_kind 'run' (exactly one, first) carries the outcome and the run; row_kind 'event' rows
-- follow, the run's events in log order, at most p_max_events of them (a longer log returns
-- none, and the runtime pages it with events.list). Flat columns, because the driver returns
-- composites as text.
create or replace function :WORLD_SCHEMA.append_run_started_log(
  p_run_id text, p_spec_version int, p_resilient boolean, p_deployment_id text,
  p_workflow_name text, p_execution_context bytea, p_created_data bytea, p_max_events int)
returns table (
  row_kind text,
  -- 'run' rows
  outcome text, detail text, entity jsonb, input_data bytea, result_data bytea,
  -- 'run' rows (the run_started event, when one was appended) and 'event' rows
  event_pk bigint, event_id text, event_type text, created_at timestamptz,
  -- 'event' rows
  correlation_id text, data bytea, spec_version int)
language plpgsql as $$
declare
  o :WORLD_SCHEMA.event_outcome;
begin
  o := :WORLD_SCHEMA.append_run_started(p_run_id, p_spec_version, p_resilient, p_deployment_id,
    p_workflow_name, p_execution_context, p_created_data);
  return query select 'run', o.outcome, o.detail, o.entity, o.input_data, o.result_data,
    o.event_pk, o.event_id, o.event_type, o.created_at, null::text, null::bytea, null::int;
  -- Only a running run is replayed. Each statement of a plpgsql function takes a new snapshot,
  -- so the log below is read after the run state above and holds every event that led to it,
  -- including the run_started (and run_created) this call may just have appended. (A join
  -- against the function's result in one outer statement would read with the older snapshot.)
  if o.outcome <> 'ok' or o.entity ->> 'status' <> 'running' or p_max_events < 1 then
    return;
  end if;
  -- the bound is checked first so a long log is not read twice (here, then by events.list)
  perform 1 from :WORLD_SCHEMA.events e where e.run_id = p_run_id order by e.id offset p_max_events limit 1;
  if found then
    return;
  end if;
  return query select 'event', null::text, null::text, null::jsonb, null::bytea, null::bytea,
    e.id, e.event_id, e.event_type, e.created_at, e.correlation_id, e.data, e.spec_version
    from :WORLD_SCHEMA.events e where e.run_id = p_run_id order by e.id;  -- events_run_id_idx
end $$;
