-- 0002_queue: durable message queue with fenced leases, per-run workflow leases and dead letters
--
-- Tables and indexes; the statements that claim and complete deliveries are defined in
-- migrations/definitions/queue.sql.
-- A message is claimable while its state is 'pending' or 'leased' and run_at has passed. For a
-- pending message run_at is its due time (delaySeconds, a timeoutSeconds reschedule, a retry
-- backoff); for a leased one it is the lease expiry, which heartbeats push forward. So one index
-- scan finds due messages and expired leases alike, and a crashed worker's messages come back
-- with no separate reaper. Every claim bumps `fence`; every later write of that delivery (ack,
-- retry, reschedule, heartbeat, release) names the fence it got, so a worker whose lease was
-- taken over can change nothing.

create table :WORLD_SCHEMA.messages (
  id              text primary key,         -- msg_<ULID>, minted by the enqueuer: a retried insert is a no-op
  queue_name      text not null,
  kind            text not null check (kind in ('workflow', 'step')),
  run_id          text,                     -- workflow: payload.runId; step: payload.workflowRunId
  payload         bytea not null,           -- CBOR (src/codec.ts): Uint8Array, Date and U+0000 survive
  headers         jsonb,                    -- trace headers, forwarded on HTTP delivery
  idempotency_key text,
  state           text not null default 'pending' check (state in ('pending', 'leased', 'done', 'dead')),
  run_at          timestamptz not null,
  attempt         int not null default 0,   -- deliveries since the last (re)schedule; the handler's 1-based attempt
  fence           bigint not null default 0,
  lease_owner     text,                     -- host:pid:nonce of the worker holding the lease (observability)
  last_error      text,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now(),
  finished_at     timestamptz               -- when it became 'done' or 'dead'
);
-- claim_messages (migrations/definitions/queue.sql) and src/queue/claim.ts's next-due query walk this in due order
create index messages_ready_idx on :WORLD_SCHEMA.messages (run_at, id) where state in ('pending', 'leased');
-- src/queue/enqueue.ts: one live message per key (a 'done' one too, until the idempotency window has passed)
create unique index messages_idempotency_key_idx on :WORLD_SCHEMA.messages (idempotency_key)
  where idempotency_key is not null and state <> 'dead';
-- src/queue/recovery.ts (runs with a live message) and finish_delivery (the run's next workflow message)
create index messages_run_id_idx on :WORLD_SCHEMA.messages (run_id, kind) where state in ('pending', 'leased');
-- src/queue/recovery.ts: sweep of 'done' rows past the idempotency window
create index messages_done_idx on :WORLD_SCHEMA.messages (finished_at) where state = 'done';
-- src/queue/dead-letters.ts: list and retry dead letters
create index messages_dead_idx on :WORLD_SCHEMA.messages (finished_at, id) where state = 'dead';
-- src/health.ts: leased messages counted (by owner) without walking the pending backlog
create index messages_leased_idx on :WORLD_SCHEMA.messages (lease_owner) where state = 'leased';

-- At most one workflow delivery per run in flight, across all processes. A claim inserts the
-- run's row in the same statement that leases the message (ON CONFLICT sees rows committed after
-- the statement's snapshot, which a NOT EXISTS check alone would miss); the row goes away when
-- the delivery finishes, or is taken over once it expires with its message's lease.
create table :WORLD_SCHEMA.run_leases (
  run_id     text primary key,
  message_id text not null,
  expires_at timestamptz not null
);

-- src/queue/recovery.ts: a run is re-driven once per state of its event log (last_event_ms), so a run
-- that only waits for a hook is replayed once, not at every sweep.
create table :WORLD_SCHEMA.run_redrives (
  run_id        text primary key references :WORLD_SCHEMA.runs (run_id) on delete cascade,
  last_event_ms bigint not null,
  redriven_at   timestamptz not null default now()
);
