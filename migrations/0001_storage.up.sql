-- 0001_storage: runs, steps, hooks, waits and the event log they are projected from
--
-- Every World write is one call of an append_* function below: it locks the run row, checks
-- every guard on locked rows, appends the event and updates the entity, all in the statement's
-- own transaction (one round trip per event). Payloads (input, output, result, metadata,
-- errors) live only in events.data (CBOR); entity rows point at the event that holds them
-- (input_event, result_event) instead of keeping a second copy.

-- Milliseconds since the epoch from the database clock: the one clock source for every
-- timestamp, so createdAt values from different app servers never go backwards.
create function :WORLD_SCHEMA.now_ms() returns bigint language sql volatile as $$
  select floor(extract(epoch from clock_timestamp()) * 1000)::bigint
$$;

-- stable (not immutable) like timestamptz + interval, so the planner can inline it
create function :WORLD_SCHEMA.ms_to_ts(p_ms bigint) returns timestamptz language sql stable as $$
  select timestamptz 'epoch' + p_ms * interval '1 millisecond'
$$;

-- A ULID whose time part is p_ms (Crockford base32, 10 time + 16 random characters).
create function :WORLD_SCHEMA.ulid_at(p_ms bigint) returns text language plpgsql volatile as $$
declare
  alphabet constant text := '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  result text := '';
  t bigint := p_ms;
  rnd bytea := uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid());
begin
  for i in 1..10 loop
    result := substr(alphabet, (t % 32)::int + 1, 1) || result;
    t := t / 32;
  end loop;
  for i in 0..15 loop
    result := result || substr(alphabet, get_byte(rnd, i * 2) % 32 + 1, 1);
  end loop;
  return result;
end $$;

create table :WORLD_SCHEMA.runs (
  run_id            text primary key,
  status            text not null check (status in ('pending', 'running', 'completed', 'failed', 'cancelled')),
  deployment_id     text not null,
  workflow_name     text not null,
  spec_version      int,
  -- trace carrier and feature flags; small, kept here as well as in run_created so that
  -- resolveData: 'none' reads need not decode the input event
  execution_context bytea,
  input_event       bigint,  -- events.id of run_created (holds the input)
  result_event      bigint,  -- events.id of the terminal event (holds output or error)
  error_code        text,
  expired_at        timestamptz,
  started_at        timestamptz,
  completed_at      timestamptz,
  created_at        timestamptz not null,
  updated_at        timestamptz not null,
  last_event_ms     bigint not null,  -- time of the latest event: event times never go backwards; progress for recovery
  state_marker_ms   bigint            -- stale-snapshot guard (CONTRACT §6.6)
);
-- runs.list pages by input_event: the run_created event's id is the run's creation order
create index runs_input_event_idx on :WORLD_SCHEMA.runs (input_event);                      -- runs.list()
create index runs_status_idx on :WORLD_SCHEMA.runs (status, input_event);                   -- runs.list({status}), recovery
create index runs_workflow_name_idx on :WORLD_SCHEMA.runs (workflow_name, input_event);     -- runs.list({workflowName})
create index runs_completed_at_idx on :WORLD_SCHEMA.runs (completed_at) where completed_at is not null;  -- retention cleanup

create table :WORLD_SCHEMA.events (
  id             bigint generated always as identity primary key,  -- commit order within a run
  run_id         text not null references :WORLD_SCHEMA.runs (run_id) on delete cascade,
  event_id       text not null,
  event_type     text not null,
  correlation_id text,
  data           bytea,
  spec_version   int,
  created_at     timestamptz not null
);
create unique index events_event_id_idx on :WORLD_SCHEMA.events (event_id);              -- events.get
create index events_run_id_idx on :WORLD_SCHEMA.events (run_id, id);                     -- events.list
create index events_correlation_id_idx on :WORLD_SCHEMA.events (correlation_id, id);     -- listByCorrelationId

create table :WORLD_SCHEMA.steps (
  run_id        text not null references :WORLD_SCHEMA.runs (run_id) on delete cascade,
  step_id       text not null,
  step_name     text not null,
  status        text not null check (status in ('pending', 'running', 'completed', 'failed', 'cancelled')),
  attempt       int not null default 0,
  input_event   bigint not null,  -- step_created (holds the input); also the creation order
  result_event  bigint,           -- latest step_completed / step_failed / step_retrying
  retry_after   timestamptz,
  started_at    timestamptz,
  completed_at  timestamptz,
  created_at    timestamptz not null,
  updated_at    timestamptz not null,
  spec_version  int,
  primary key (run_id, step_id)
);
create index steps_run_id_idx on :WORLD_SCHEMA.steps (run_id, input_event);  -- steps.list
create index steps_step_id_idx on :WORLD_SCHEMA.steps (step_id);             -- steps.get without runId

create table :WORLD_SCHEMA.hooks (
  run_id        text not null references :WORLD_SCHEMA.runs (run_id) on delete cascade,
  hook_id       text not null,
  token         text not null,
  -- tokens are unbounded user strings: uniqueness through a digest, a btree on the raw text
  -- could exceed the index row limit
  token_digest  bytea not null,
  is_webhook    boolean not null,
  input_event   bigint not null,  -- hook_created (holds the metadata); also the creation order
  created_at    timestamptz not null,
  spec_version  int,
  primary key (run_id, hook_id)
);
create unique index hooks_token_idx on :WORLD_SCHEMA.hooks (token_digest);  -- one live owner per token; getByToken
create index hooks_run_id_idx on :WORLD_SCHEMA.hooks (run_id, input_event);  -- hooks.list({runId})
create index hooks_hook_id_idx on :WORLD_SCHEMA.hooks (hook_id);             -- hooks.get
create index hooks_input_event_idx on :WORLD_SCHEMA.hooks (input_event);     -- hooks.list() across runs

create table :WORLD_SCHEMA.waits (
  run_id         text not null references :WORLD_SCHEMA.runs (run_id) on delete cascade,
  correlation_id text not null,
  status         text not null check (status in ('waiting', 'completed')),
  resume_at      timestamptz,
  completed_at   timestamptz,
  created_at     timestamptz not null,
  updated_at     timestamptz not null,
  spec_version   int,
  primary key (run_id, correlation_id)
);

-- What every append_* function returns. outcome 'ok' or a failure kind that the client maps
-- to the @workflow/errors class; entity is the row after the change; input_data/result_data
-- are the events.data holding the entity's payloads.
create type :WORLD_SCHEMA.event_outcome as (
  outcome     text,
  detail      text,
  event_pk    bigint,
  event_id    text,
  event_type  text,
  created_at  timestamptz,
  entity      jsonb,
  input_data  bytea,
  result_data bytea
);

-- Locks the run row (serialising every append of the run) and classifies it.
-- Returns null outcome when the run is usable; callers decide what terminal means for them.
create function :WORLD_SCHEMA.lock_run(p_run_id text, out r :WORLD_SCHEMA.runs, out problem text, out detail text)
language plpgsql as $$
begin
  select * into r from :WORLD_SCHEMA.runs where run_id = p_run_id for update;
  if not found then
    problem := 'run_not_found';
  elsif r.spec_version is null or r.spec_version <= 1 then
    problem := 'legacy_run';
  elsif r.spec_version > 3 then
    problem := 'run_not_supported';
    detail := r.spec_version::text;
  end if;
end $$;

-- Appends one event to a locked run. Its time is the database clock, clamped so it never
-- precedes the run's previous event, and its ULID carries that time.
create function :WORLD_SCHEMA.append_event(
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

create function :WORLD_SCHEMA.failure(p_outcome text, p_detail text default null)
returns :WORLD_SCHEMA.event_outcome language plpgsql immutable as $$
declare
  res :WORLD_SCHEMA.event_outcome;
begin
  res.outcome := p_outcome;
  res.detail := p_detail;
  return res;
end $$;

-- §6.6: a create carrying stateUpdatedAt older than the run's marker is refused.
create function :WORLD_SCHEMA.is_stale(r :WORLD_SCHEMA.runs, p_state_updated_at_ms bigint)
returns boolean language plpgsql immutable as $$
begin
  return p_state_updated_at_ms is not null and r.state_marker_ms is not null and p_state_updated_at_ms < r.state_marker_ms;
end $$;

create function :WORLD_SCHEMA.is_terminal(p_status text) returns boolean language sql immutable as $$
  select p_status in ('completed', 'failed', 'cancelled')
$$;

-- run_created, and the run_created half of a resilient run_started. 'conflict' when it exists.
create function :WORLD_SCHEMA.insert_run(
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

create function :WORLD_SCHEMA.run_result(o :WORLD_SCHEMA.event_outcome, p_run_id text)
returns :WORLD_SCHEMA.event_outcome language plpgsql stable as $$
declare
  res :WORLD_SCHEMA.event_outcome;
begin
  -- plpgsql, not sql: an sql function taking a composite is re-planned on every call
  select o.outcome, o.detail, o.event_pk, o.event_id, o.event_type, o.created_at,
         to_jsonb(r), ei.data, er.data
    into res
    from :WORLD_SCHEMA.runs r
    left join :WORLD_SCHEMA.events ei on ei.id = r.input_event
    left join :WORLD_SCHEMA.events er on er.id = r.result_event
   where r.run_id = p_run_id;
  return res;
end $$;

create function :WORLD_SCHEMA.append_run_created(
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

-- run_started: pending → running (startedAt set once), idempotent while running, refused when
-- terminal. With p_resilient, a missing run is first created from the message's run input.
create function :WORLD_SCHEMA.append_run_started(
  p_run_id text, p_spec_version int, p_resilient boolean, p_deployment_id text,
  p_workflow_name text, p_execution_context bytea, p_created_data bytea)
returns :WORLD_SCHEMA.event_outcome language plpgsql as $$
declare
  l record;
  o :WORLD_SCHEMA.event_outcome;
begin
  -- The runtime starts the run on every delivery: a running run answers without a row lock, so
  -- the call writes nothing and its commit needs no WAL flush.
  perform 1 from :WORLD_SCHEMA.runs where run_id = p_run_id and status = 'running' and spec_version in (2, 3);
  if found then
    return :WORLD_SCHEMA.run_result(row('ok', null, null, null, null, null, null, null, null):::WORLD_SCHEMA.event_outcome, p_run_id);
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
    return :WORLD_SCHEMA.run_result(row('ok', null, null, null, null, null, null, null, null):::WORLD_SCHEMA.event_outcome, p_run_id);
  end if;
  o := :WORLD_SCHEMA.append_event(p_run_id, 'run_started', null, null, p_spec_version);
  update :WORLD_SCHEMA.runs
     set status = 'running', started_at = coalesce(started_at, o.created_at), updated_at = o.created_at
   where run_id = p_run_id;
  return :WORLD_SCHEMA.run_result(o, p_run_id);
end $$;

-- run_completed / run_failed / run_cancelled: terminal, deletes the run's hooks and waits.
create function :WORLD_SCHEMA.append_run_finished(
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

create function :WORLD_SCHEMA.step_result(o :WORLD_SCHEMA.event_outcome, p_run_id text, p_step_id text)
returns :WORLD_SCHEMA.event_outcome language plpgsql stable as $$
declare
  res :WORLD_SCHEMA.event_outcome;
begin
  -- plpgsql, not sql: an sql function taking a composite is re-planned on every call
  select o.outcome, o.detail, o.event_pk, o.event_id, o.event_type, o.created_at,
         to_jsonb(s), ei.data, er.data
    into res
    from :WORLD_SCHEMA.steps s
    left join :WORLD_SCHEMA.events ei on ei.id = s.input_event
    left join :WORLD_SCHEMA.events er on er.id = s.result_event
   where s.run_id = p_run_id and s.step_id = p_step_id;
  return res;
end $$;

-- step_created / step_started / step_completed / step_failed / step_retrying.
create function :WORLD_SCHEMA.append_step_event(
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
           result_event = o.event_pk,
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

create function :WORLD_SCHEMA.hook_result(o :WORLD_SCHEMA.event_outcome, p_run_id text, p_hook_id text)
returns :WORLD_SCHEMA.event_outcome language plpgsql stable as $$
declare
  res :WORLD_SCHEMA.event_outcome;
begin
  -- plpgsql, not sql: an sql function taking a composite is re-planned on every call
  select o.outcome, o.detail, o.event_pk, o.event_id, o.event_type, o.created_at,
         to_jsonb(h) - 'token_digest', ei.data, null
    into res
    from :WORLD_SCHEMA.hooks h
    left join :WORLD_SCHEMA.events ei on ei.id = h.input_event
   where h.run_id = p_run_id and h.hook_id = p_hook_id;
  return res;
end $$;

-- hook_created / hook_received / hook_disposed. A token held by another live hook is not an
-- error: the outcome 'hook_conflict' carries the holder's run id and the client appends the
-- hook_conflict event with append_hook_conflict.
create function :WORLD_SCHEMA.append_hook_event(
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
create function :WORLD_SCHEMA.append_hook_conflict(p_run_id text, p_hook_id text, p_data bytea, p_spec_version int)
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

create function :WORLD_SCHEMA.wait_result(o :WORLD_SCHEMA.event_outcome, p_run_id text, p_correlation_id text)
returns :WORLD_SCHEMA.event_outcome language plpgsql stable as $$
declare
  res :WORLD_SCHEMA.event_outcome;
begin
  -- plpgsql, not sql: an sql function taking a composite is re-planned on every call
  select o.outcome, o.detail, o.event_pk, o.event_id, o.event_type, o.created_at,
         to_jsonb(w), null, null
    into res
    from :WORLD_SCHEMA.waits w
   where w.run_id = p_run_id and w.correlation_id = p_correlation_id;
  return res;
end $$;

-- wait_created / wait_completed.
create function :WORLD_SCHEMA.append_wait_event(
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
