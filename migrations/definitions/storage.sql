-- requires: 0001
-- events.create: every World write is one call of an append_* function below. It locks the run
-- row, checks every guard on locked rows, appends the event and updates the entity, all in the
-- statement's own transaction (one round trip per event). run_started lives in run-start.sql.

-- Locks the run row (serialising every append of the run) and classifies it.
-- Returns null outcome when the run is usable; callers decide what terminal means for them.
create or replace function :WORLD_SCHEMA.lock_run(p_run_id text, out r :WORLD_SCHEMA.runs, out problem text, out detail text)
language plpgsql as $$
begin
  select * into r from :WORLD_SCHEMA.runs where run_id = p_run_id for update;
  if not found then
    problem := 'run_not_found';
  else
    problem := :WORLD_SCHEMA.spec_problem(r.spec_version);
    if problem = 'run_not_supported' then
      detail := r.spec_version::text;
    end if;
  end if;
end $$;

-- Appends one event to a locked run. Its time is the database clock, clamped so it never
-- precedes the run's previous event, and its ULID carries that time.
create or replace function :WORLD_SCHEMA.append_event(
  p_run_id text, p_type text, p_correlation_id text, p_data bytea, p_spec_version int,
  out o :WORLD_SCHEMA.event_outcome)
language plpgsql as $$
declare
  v_ms bigint;
begin
  select greatest(:WORLD_SCHEMA.now_ms(), last_event_ms) into v_ms
    from :WORLD_SCHEMA.runs where run_id = p_run_id;
  o.outcome := 'ok';
  o.event_type := p_type;
  o.event_id := 'wevt_' || :WORLD_SCHEMA.ulid_at(v_ms);
  o.created_at := :WORLD_SCHEMA.ms_to_ts(v_ms);
  insert into :WORLD_SCHEMA.events (run_id, event_id, event_type, correlation_id, data, spec_version, created_at)
    values (p_run_id, o.event_id, p_type, p_correlation_id, p_data, p_spec_version, o.created_at)
    returning id into o.event_pk;
  update :WORLD_SCHEMA.runs set last_event_ms = v_ms where run_id = p_run_id;
end $$;

-- docs/world-contract.md §6.6: a create carrying stateUpdatedAt older than the run's marker is refused.
create or replace function :WORLD_SCHEMA.is_stale(r :WORLD_SCHEMA.runs, p_state_updated_at_ms bigint)
returns boolean language plpgsql immutable as $$
begin
  return p_state_updated_at_ms is not null and r.state_marker_ms is not null and p_state_updated_at_ms < r.state_marker_ms;
end $$;

-- run_created, and the run_created half of a resilient run_started. 'conflict' when it exists.
create or replace function :WORLD_SCHEMA.insert_run(
  p_run_id text, p_deployment_id text, p_workflow_name text, p_spec_version int,
  p_execution_context bytea, p_data bytea)
returns :WORLD_SCHEMA.event_outcome language plpgsql as $$
declare
  v_ms bigint := :WORLD_SCHEMA.now_ms();
  o :WORLD_SCHEMA.event_outcome;
begin
  insert into :WORLD_SCHEMA.runs (run_id, status, deployment_id, workflow_name, spec_version,
      execution_context, created_at, updated_at, last_event_ms)
    values (p_run_id, 'pending', p_deployment_id, p_workflow_name, p_spec_version,
      p_execution_context, :WORLD_SCHEMA.ms_to_ts(v_ms), :WORLD_SCHEMA.ms_to_ts(v_ms), v_ms)
    on conflict (run_id) do nothing;
  if not found then
    return :WORLD_SCHEMA.failure('conflict', 'run ' || p_run_id || ' already exists');
  end if;
  o := :WORLD_SCHEMA.append_event(p_run_id, 'run_created', null, p_data, p_spec_version);
  update :WORLD_SCHEMA.runs set input_event = o.event_pk where run_id = p_run_id;
  return o;
end $$;

create or replace function :WORLD_SCHEMA.run_result(o :WORLD_SCHEMA.event_outcome, p_run_id text)
returns :WORLD_SCHEMA.event_outcome language plpgsql stable as $$
declare
  res :WORLD_SCHEMA.event_outcome;
begin
  -- plpgsql, not sql: an sql function taking a composite is re-planned on every call
  select o.outcome, o.detail, o.event_pk, o.event_id, o.event_type, o.created_at,
         to_jsonb(r), ei.data, er.data, null
    into res
    from :WORLD_SCHEMA.runs r
    left join :WORLD_SCHEMA.events ei on ei.id = r.input_event
    left join :WORLD_SCHEMA.events er on er.id = r.result_event
   where r.run_id = p_run_id;
  return res;
end $$;

create or replace function :WORLD_SCHEMA.append_run_created(
  p_run_id text, p_deployment_id text, p_workflow_name text, p_spec_version int,
  p_execution_context bytea, p_data bytea)
returns :WORLD_SCHEMA.event_outcome language plpgsql as $$
declare
  o :WORLD_SCHEMA.event_outcome;
begin
  o := :WORLD_SCHEMA.insert_run(p_run_id, p_deployment_id, p_workflow_name, p_spec_version, p_execution_context, p_data);
  if o.outcome <> 'ok' then return o; end if;
  return :WORLD_SCHEMA.run_result(o, p_run_id);
end $$;

-- run_completed / run_failed / run_cancelled: terminal, deletes the run's hooks and waits.
create or replace function :WORLD_SCHEMA.append_run_finished(
  p_run_id text, p_type text, p_data bytea, p_spec_version int, p_error_code text,
  p_state_updated_at_ms bigint)
returns :WORLD_SCHEMA.event_outcome language plpgsql as $$
declare
  l record;
  o :WORLD_SCHEMA.event_outcome;
  v_status text := case p_type when 'run_completed' then 'completed' when 'run_failed' then 'failed' else 'cancelled' end;
begin
  select * into l from :WORLD_SCHEMA.lock_run(p_run_id);
  if l.problem is not null then return :WORLD_SCHEMA.failure(l.problem, l.detail); end if;
  if :WORLD_SCHEMA.is_terminal((l.r).status) then
    if p_type = 'run_cancelled' and (l.r).status = 'cancelled' then
      o := :WORLD_SCHEMA.append_event(p_run_id, p_type, null, p_data, p_spec_version);
      return :WORLD_SCHEMA.run_result(o, p_run_id);
    end if;
    return :WORLD_SCHEMA.failure('conflict', 'run ' || p_run_id || ' is already ' || (l.r).status);
  end if;
  if :WORLD_SCHEMA.is_stale(l.r, p_state_updated_at_ms) then
    return :WORLD_SCHEMA.failure('precondition_failed', 'run ' || p_run_id || ' changed after the replay read it');
  end if;
  o := :WORLD_SCHEMA.append_event(p_run_id, p_type, null, p_data, p_spec_version);
  update :WORLD_SCHEMA.runs
     set status = v_status, result_event = o.event_pk, error_code = p_error_code,
         completed_at = o.created_at, updated_at = o.created_at
   where run_id = p_run_id;
  delete from :WORLD_SCHEMA.hooks where run_id = p_run_id;
  delete from :WORLD_SCHEMA.waits where run_id = p_run_id;
  return :WORLD_SCHEMA.run_result(o, p_run_id);
end $$;

create or replace function :WORLD_SCHEMA.step_result(o :WORLD_SCHEMA.event_outcome, p_run_id text, p_step_id text)
returns :WORLD_SCHEMA.event_outcome language plpgsql stable as $$
declare
  res :WORLD_SCHEMA.event_outcome;
begin
  -- plpgsql, not sql: an sql function taking a composite is re-planned on every call
  select o.outcome, o.detail, o.event_pk, o.event_id, o.event_type, o.created_at,
         to_jsonb(s), ei.data, er.data, ee.data
    into res
    from :WORLD_SCHEMA.steps s
    left join :WORLD_SCHEMA.events ei on ei.id = s.input_event
    left join :WORLD_SCHEMA.events er on er.id = s.result_event
    left join :WORLD_SCHEMA.events ee on ee.id = s.error_event
   where s.run_id = p_run_id and s.step_id = p_step_id;
  return res;
end $$;

-- step_created / step_started / step_completed / step_failed / step_retrying.
create or replace function :WORLD_SCHEMA.append_step_event(
  p_run_id text, p_type text, p_step_id text, p_data bytea, p_spec_version int,
  p_step_name text, p_retry_after timestamptz, p_state_updated_at_ms bigint)
returns :WORLD_SCHEMA.event_outcome language plpgsql as $$
declare
  l record;
  s :WORLD_SCHEMA.steps;
  o :WORLD_SCHEMA.event_outcome;
  v_run_terminal boolean;
begin
  select * into l from :WORLD_SCHEMA.lock_run(p_run_id);
  if l.problem is not null then return :WORLD_SCHEMA.failure(l.problem, l.detail); end if;
  v_run_terminal := :WORLD_SCHEMA.is_terminal((l.r).status);
  if :WORLD_SCHEMA.is_stale(l.r, p_state_updated_at_ms) then
    return :WORLD_SCHEMA.failure('precondition_failed', 'run ' || p_run_id || ' changed after the replay read it');
  end if;

  if p_type = 'step_created' then
    if v_run_terminal then
      return :WORLD_SCHEMA.failure('conflict', 'run ' || p_run_id || ' is already ' || (l.r).status);
    end if;
    if exists (select 1 from :WORLD_SCHEMA.steps where run_id = p_run_id and step_id = p_step_id) then
      return :WORLD_SCHEMA.failure('conflict', 'step ' || p_step_id || ' already exists');
    end if;
    o := :WORLD_SCHEMA.append_event(p_run_id, p_type, p_step_id, p_data, p_spec_version);
    insert into :WORLD_SCHEMA.steps (run_id, step_id, step_name, status, attempt, input_event,
        created_at, updated_at, spec_version)
      values (p_run_id, p_step_id, p_step_name, 'pending', 0, o.event_pk, o.created_at, o.created_at,
        p_spec_version);
    return :WORLD_SCHEMA.step_result(o, p_run_id, p_step_id);
  end if;

  select * into s from :WORLD_SCHEMA.steps where run_id = p_run_id and step_id = p_step_id for update;
  if not found then
    return :WORLD_SCHEMA.failure('not_found', 'step ' || p_step_id || ' not found in run ' || p_run_id);
  end if;
  if :WORLD_SCHEMA.is_terminal(s.status) then
    return :WORLD_SCHEMA.failure('conflict', 'step ' || p_step_id || ' is already ' || s.status);
  end if;

  if p_type = 'step_started' then
    if v_run_terminal then
      return :WORLD_SCHEMA.failure('run_terminal', 'run ' || p_run_id || ' is ' || (l.r).status);
    end if;
    if s.retry_after is not null and s.retry_after > clock_timestamp() then
      return :WORLD_SCHEMA.failure('too_early',
        ceil(extract(epoch from s.retry_after - clock_timestamp()))::text);
    end if;
    o := :WORLD_SCHEMA.append_event(p_run_id, p_type, p_step_id, p_data, p_spec_version);
    update :WORLD_SCHEMA.steps
       set status = 'running', attempt = attempt + 1, started_at = coalesce(started_at, o.created_at),
           retry_after = null, updated_at = o.created_at
     where run_id = p_run_id and step_id = p_step_id;
  else
    o := :WORLD_SCHEMA.append_event(p_run_id, p_type, p_step_id, p_data, p_spec_version);
    update :WORLD_SCHEMA.steps
       set status = case p_type when 'step_completed' then 'completed' when 'step_failed' then 'failed' else 'pending' end,
           result_event = case when p_type = 'step_completed' then o.event_pk else result_event end,
           error_event = case when p_type = 'step_completed' then error_event else o.event_pk end,
           retry_after = case when p_type = 'step_retrying' then p_retry_after else retry_after end,
           completed_at = case when p_type = 'step_retrying' then null else o.created_at end,
           updated_at = o.created_at
     where run_id = p_run_id and step_id = p_step_id;
    if p_type = 'step_completed' and p_state_updated_at_ms is null then
      update :WORLD_SCHEMA.runs set state_marker_ms = (extract(epoch from o.created_at) * 1000)::bigint
       where run_id = p_run_id;
    end if;
  end if;
  return :WORLD_SCHEMA.step_result(o, p_run_id, p_step_id);
end $$;

create or replace function :WORLD_SCHEMA.hook_result(o :WORLD_SCHEMA.event_outcome, p_run_id text, p_hook_id text)
returns :WORLD_SCHEMA.event_outcome language plpgsql stable as $$
declare
  res :WORLD_SCHEMA.event_outcome;
begin
  -- plpgsql, not sql: an sql function taking a composite is re-planned on every call
  select o.outcome, o.detail, o.event_pk, o.event_id, o.event_type, o.created_at,
         to_jsonb(h) - 'token_digest', ei.data, null, null
    into res
    from :WORLD_SCHEMA.hooks h
    left join :WORLD_SCHEMA.events ei on ei.id = h.input_event
   where h.run_id = p_run_id and h.hook_id = p_hook_id;
  return res;
end $$;

-- hook_created / hook_received / hook_disposed. A token held by another live hook is not an
-- error: the outcome 'hook_conflict' carries the holder's run id and the client appends the
-- hook_conflict event with append_hook_conflict.
create or replace function :WORLD_SCHEMA.append_hook_event(
  p_run_id text, p_type text, p_hook_id text, p_data bytea, p_spec_version int,
  p_token text, p_is_webhook boolean, p_state_updated_at_ms bigint)
returns :WORLD_SCHEMA.event_outcome language plpgsql as $$
declare
  l record;
  o :WORLD_SCHEMA.event_outcome;
  v_holder text;
  v_digest bytea;
begin
  select * into l from :WORLD_SCHEMA.lock_run(p_run_id);
  if p_type <> 'hook_created' and l.problem = 'run_not_found' then
    return :WORLD_SCHEMA.failure('hook_not_found', p_hook_id);
  end if;
  if l.problem is not null then return :WORLD_SCHEMA.failure(l.problem, l.detail); end if;
  if :WORLD_SCHEMA.is_stale(l.r, p_state_updated_at_ms) then
    return :WORLD_SCHEMA.failure('precondition_failed', 'run ' || p_run_id || ' changed after the replay read it');
  end if;

  if p_type = 'hook_created' then
    if :WORLD_SCHEMA.is_terminal((l.r).status) then
      return :WORLD_SCHEMA.failure('conflict', 'run ' || p_run_id || ' is already ' || (l.r).status);
    end if;
    if exists (select 1 from :WORLD_SCHEMA.hooks where run_id = p_run_id and hook_id = p_hook_id)
       or exists (select 1 from :WORLD_SCHEMA.events
                   where run_id = p_run_id and correlation_id = p_hook_id and event_type = 'hook_created') then
      return :WORLD_SCHEMA.failure('conflict', 'hook ' || p_hook_id || ' already exists');
    end if;
    v_digest := sha256(convert_to(p_token, 'UTF8'));
    o := :WORLD_SCHEMA.append_event(p_run_id, p_type, p_hook_id, p_data, p_spec_version);
    insert into :WORLD_SCHEMA.hooks (run_id, hook_id, token, token_digest, is_webhook, input_event, created_at, spec_version)
      values (p_run_id, p_hook_id, p_token, v_digest, p_is_webhook, o.event_pk, o.created_at, p_spec_version)
      on conflict (token_digest) do nothing;
    if not found then
      -- the token belongs to another live hook: undo the event, report the holder
      delete from :WORLD_SCHEMA.events where id = o.event_pk;
      select run_id into v_holder from :WORLD_SCHEMA.hooks where token_digest = v_digest;
      return :WORLD_SCHEMA.failure('hook_conflict', v_holder);
    end if;
    return :WORLD_SCHEMA.hook_result(o, p_run_id, p_hook_id);
  end if;

  if not exists (select 1 from :WORLD_SCHEMA.hooks where run_id = p_run_id and hook_id = p_hook_id) then
    return :WORLD_SCHEMA.failure('hook_not_found', p_hook_id);
  end if;
  o := :WORLD_SCHEMA.append_event(p_run_id, p_type, p_hook_id, p_data, p_spec_version);
  if p_type = 'hook_disposed' then
    delete from :WORLD_SCHEMA.hooks where run_id = p_run_id and hook_id = p_hook_id;
  elsif p_state_updated_at_ms is null then
    update :WORLD_SCHEMA.runs set state_marker_ms = (extract(epoch from o.created_at) * 1000)::bigint
     where run_id = p_run_id;
  end if;
  return o;
end $$;

-- hook_conflict, recorded in the requesting run (world-created only).
create or replace function :WORLD_SCHEMA.append_hook_conflict(p_run_id text, p_hook_id text, p_data bytea, p_spec_version int)
returns :WORLD_SCHEMA.event_outcome language plpgsql as $$
declare
  l record;
begin
  select * into l from :WORLD_SCHEMA.lock_run(p_run_id);
  if l.problem is not null then return :WORLD_SCHEMA.failure(l.problem, l.detail); end if;
  if :WORLD_SCHEMA.is_terminal((l.r).status) then
    return :WORLD_SCHEMA.failure('conflict', 'run ' || p_run_id || ' is already ' || (l.r).status);
  end if;
  return :WORLD_SCHEMA.append_event(p_run_id, 'hook_conflict', p_hook_id, p_data, p_spec_version);
end $$;

create or replace function :WORLD_SCHEMA.wait_result(o :WORLD_SCHEMA.event_outcome, p_run_id text, p_correlation_id text)
returns :WORLD_SCHEMA.event_outcome language plpgsql stable as $$
declare
  res :WORLD_SCHEMA.event_outcome;
begin
  -- plpgsql, not sql: an sql function taking a composite is re-planned on every call
  select o.outcome, o.detail, o.event_pk, o.event_id, o.event_type, o.created_at,
         to_jsonb(w), null, null, null
    into res
    from :WORLD_SCHEMA.waits w
   where w.run_id = p_run_id and w.correlation_id = p_correlation_id;
  return res;
end $$;

-- wait_created / wait_completed.
create or replace function :WORLD_SCHEMA.append_wait_event(
  p_run_id text, p_type text, p_correlation_id text, p_data bytea, p_spec_version int,
  p_resume_at timestamptz, p_state_updated_at_ms bigint)
returns :WORLD_SCHEMA.event_outcome language plpgsql as $$
declare
  l record;
  w :WORLD_SCHEMA.waits;
  o :WORLD_SCHEMA.event_outcome;
begin
  select * into l from :WORLD_SCHEMA.lock_run(p_run_id);
  if l.problem is not null then return :WORLD_SCHEMA.failure(l.problem, l.detail); end if;
  if :WORLD_SCHEMA.is_stale(l.r, p_state_updated_at_ms) then
    return :WORLD_SCHEMA.failure('precondition_failed', 'run ' || p_run_id || ' changed after the replay read it');
  end if;

  if p_type = 'wait_created' then
    if :WORLD_SCHEMA.is_terminal((l.r).status) then
      return :WORLD_SCHEMA.failure('conflict', 'run ' || p_run_id || ' is already ' || (l.r).status);
    end if;
    if exists (select 1 from :WORLD_SCHEMA.events
                where run_id = p_run_id and correlation_id = p_correlation_id and event_type = 'wait_created') then
      return :WORLD_SCHEMA.failure('conflict', 'wait ' || p_correlation_id || ' already exists');
    end if;
    o := :WORLD_SCHEMA.append_event(p_run_id, p_type, p_correlation_id, p_data, p_spec_version);
    insert into :WORLD_SCHEMA.waits (run_id, correlation_id, status, resume_at, created_at, updated_at, spec_version)
      values (p_run_id, p_correlation_id, 'waiting', p_resume_at, o.created_at, o.created_at, p_spec_version);
    return :WORLD_SCHEMA.wait_result(o, p_run_id, p_correlation_id);
  end if;

  select * into w from :WORLD_SCHEMA.waits where run_id = p_run_id and correlation_id = p_correlation_id for update;
  if not found then
    if :WORLD_SCHEMA.is_terminal((l.r).status) then
      return :WORLD_SCHEMA.failure('run_terminal', 'run ' || p_run_id || ' is ' || (l.r).status);
    end if;
    return :WORLD_SCHEMA.failure('not_found', 'wait ' || p_correlation_id || ' not found in run ' || p_run_id);
  end if;
  if w.status = 'completed' then
    return :WORLD_SCHEMA.failure('conflict', 'wait ' || p_correlation_id || ' is already completed');
  end if;
  o := :WORLD_SCHEMA.append_event(p_run_id, p_type, p_correlation_id, p_data, p_spec_version);
  update :WORLD_SCHEMA.waits set status = 'completed', completed_at = o.created_at, updated_at = o.created_at
   where run_id = p_run_id and correlation_id = p_correlation_id;
  return :WORLD_SCHEMA.wait_result(o, p_run_id, p_correlation_id);
end $$;
