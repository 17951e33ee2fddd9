-- requires: 0001
-- Helpers of every other definition file: the database clock, ULIDs, outcomes, spec versions.
--
-- Definition files (migrations/definitions/*.sql) hold the current text of every function, one
-- home per function. src/db/migrate.ts applies them after the versioned migrations, under the
-- same advisory lock, whenever their checksum changes: it drops the schema's functions and runs
-- every file whose `requires` migration is applied, in file-name order. :SPEC_VERSION_LEGACY and
-- :SPEC_VERSION_CURRENT are rendered from @workflow/world's constants, so the spec versions this
-- World serves are written down once, in TypeScript.

-- Milliseconds since the epoch from the database clock: the one clock source for every
-- timestamp, so createdAt values from different app servers never go backwards.
create or replace function :WORLD_SCHEMA.now_ms() returns bigint language sql volatile as $$
  select floor(extract(epoch from clock_timestamp()) * 1000)::bigint
$$;

-- stable (not immutable) like timestamptz + interval, so the planner can inline it
create or replace function :WORLD_SCHEMA.ms_to_ts(p_ms bigint) returns timestamptz language sql stable as $$
  select timestamptz 'epoch' + p_ms * interval '1 millisecond'
$$;

-- A ULID whose time part is p_ms (Crockford base32, 10 time + 16 random characters).
create or replace function :WORLD_SCHEMA.ulid_at(p_ms bigint) returns text language plpgsql volatile as $$
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

create or replace function :WORLD_SCHEMA.is_terminal(p_status text) returns boolean language sql immutable as $$
  select p_status in ('completed', 'failed', 'cancelled')
$$;

create or replace function :WORLD_SCHEMA.failure(p_outcome text, p_detail text default null)
returns :WORLD_SCHEMA.event_outcome language plpgsql immutable as $$
declare
  res :WORLD_SCHEMA.event_outcome;
begin
  res.outcome := p_outcome;
  res.detail := p_detail;
  return res;
end $$;

-- The outcome of a call that appended no event (run_started on a running run).
create or replace function :WORLD_SCHEMA.no_event() returns :WORLD_SCHEMA.event_outcome language plpgsql immutable as $$
declare
  res :WORLD_SCHEMA.event_outcome;
begin
  res.outcome := 'ok';
  return res;
end $$;

-- Why a run of spec version p_version cannot be served, or null when it can.
create or replace function :WORLD_SCHEMA.spec_problem(p_version int) returns text language sql immutable as $$
  select case when p_version is null or p_version <= :SPEC_VERSION_LEGACY then 'legacy_run'
              when p_version > :SPEC_VERSION_CURRENT then 'run_not_supported' end
$$;
