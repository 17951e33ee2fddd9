-- 0004_run_started_log: run_started also returns the run's event log when it is short
--
-- The runtime calls run_started on every workflow delivery and then loads the whole log with
-- events.list, unless the run_started result carries it. This function answers both in one
-- statement: the first row is append_run_started's outcome, the following rows (outcome null)
-- are the run's events in log order, at most p_max_events of them; a longer log returns none and
-- the runtime falls back to events.list. Flat columns, because the driver returns composites as
-- text: event rows use event_pk as events.id and fill correlation_id, data and spec_version.
create function :WORLD_SCHEMA.append_run_started_log(
  p_run_id text, p_spec_version int, p_resilient boolean, p_deployment_id text,
  p_workflow_name text, p_execution_context bytea, p_created_data bytea, p_max_events int)
returns table (
  outcome text, detail text, event_pk bigint, event_id text, event_type text, created_at timestamptz,
  entity jsonb, input_data bytea, result_data bytea, correlation_id text, data bytea, spec_version int)
language plpgsql as $$
declare
  o :WORLD_SCHEMA.event_outcome;
begin
  o := :WORLD_SCHEMA.append_run_started(p_run_id, p_spec_version, p_resilient, p_deployment_id,
    p_workflow_name, p_execution_context, p_created_data);
  return query select o.outcome, o.detail, o.event_pk, o.event_id, o.event_type, o.created_at,
    o.entity, o.input_data, o.result_data, null::text, null::bytea, null::int;
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
  return query select null::text, null::text, e.id, e.event_id, e.event_type, e.created_at,
    null::jsonb, null::bytea, null::bytea, e.correlation_id, e.data, e.spec_version
    from :WORLD_SCHEMA.events e where e.run_id = p_run_id order by e.id;  -- events_run_id_idx
end $$;
