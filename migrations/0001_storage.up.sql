-- 0001_storage: runs, steps, hooks, waits and the event log they are projected from
--
-- Tables, indexes and the result type of the append functions. The functions that write them
-- (one call per events.create) are defined in migrations/definitions/storage.sql and
-- migrations/definitions/run-start.sql, re-applied whenever their text changes.
-- Payloads (input, output, result, metadata, errors) live only in events.data (CBOR); entity rows
-- point at the event that holds them (input_event, result_event, error_event) instead of keeping a
-- second copy.

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
  state_marker_ms   bigint            -- stale-snapshot guard (docs/world-contract.md §6.6)
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
  result_event  bigint,           -- step_completed (holds the output)
  -- the latest step_failed / step_retrying (holds the error): kept when a retried step then
  -- completes, so steps.get still reports the last retry's error
  error_event   bigint,
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
-- to the @workflow/errors class; entity is the row after the change; input_data, result_data and
-- error_data are the events.data holding the entity's payloads (error_data: steps only).
create type :WORLD_SCHEMA.event_outcome as (
  outcome     text,
  detail      text,
  event_pk    bigint,
  event_id    text,
  event_type  text,
  created_at  timestamptz,
  entity      jsonb,
  input_data  bytea,
  result_data bytea,
  error_data  bytea
);
