/**
 * Every table of the schema with every column: its TypeScript type as postgres.js returns it
 * (int8 as a string, bytea as a Buffer, timestamptz as a Date, jsonb parsed) and, as the runtime
 * value, its PostgreSQL type (`udt_name`, plus ' null' when nullable). One definition for both:
 * kysely.ts types its queries with `Database`, and test/integration/db/tables.test.ts compares
 * `TABLES` with the migrated catalog, so a schema change that these types miss fails the suite.
 * Mirrors migrations/NNNN_*.up.sql and the migration ledgers of migrate.ts.
 */
const column = <T>(pgType: string) => pgType as unknown as T;
const nullable = <T>(pgType: string) => `${pgType} null` as unknown as T | null;

type EntityStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';

export const TABLES = {
  runs: {
    run_id: column<string>('text'),
    status: column<EntityStatus>('text'),
    deployment_id: column<string>('text'),
    workflow_name: column<string>('text'),
    spec_version: nullable<number>('int4'),
    execution_context: nullable<Uint8Array>('bytea'),
    input_event: nullable<string>('int8'),
    result_event: nullable<string>('int8'),
    error_code: nullable<string>('text'),
    expired_at: nullable<Date>('timestamptz'),
    started_at: nullable<Date>('timestamptz'),
    completed_at: nullable<Date>('timestamptz'),
    created_at: column<Date>('timestamptz'),
    updated_at: column<Date>('timestamptz'),
    last_event_ms: column<string>('int8'),
    state_marker_ms: nullable<string>('int8'),
  },
  events: {
    id: column<string>('int8'),
    run_id: column<string>('text'),
    event_id: column<string>('text'),
    event_type: column<string>('text'),
    correlation_id: nullable<string>('text'),
    data: nullable<Uint8Array>('bytea'),
    spec_version: nullable<number>('int4'),
    created_at: column<Date>('timestamptz'),
  },
  steps: {
    run_id: column<string>('text'),
    step_id: column<string>('text'),
    step_name: column<string>('text'),
    status: column<EntityStatus>('text'),
    attempt: column<number>('int4'),
    input_event: column<string>('int8'),
    result_event: nullable<string>('int8'),
    error_event: nullable<string>('int8'),
    retry_after: nullable<Date>('timestamptz'),
    started_at: nullable<Date>('timestamptz'),
    completed_at: nullable<Date>('timestamptz'),
    created_at: column<Date>('timestamptz'),
    updated_at: column<Date>('timestamptz'),
    spec_version: nullable<number>('int4'),
  },
  hooks: {
    run_id: column<string>('text'),
    hook_id: column<string>('text'),
    token: column<string>('text'),
    token_digest: column<Uint8Array>('bytea'),
    is_webhook: column<boolean>('bool'),
    input_event: column<string>('int8'),
    created_at: column<Date>('timestamptz'),
    spec_version: nullable<number>('int4'),
  },
  waits: {
    run_id: column<string>('text'),
    correlation_id: column<string>('text'),
    status: column<'waiting' | 'completed'>('text'),
    resume_at: nullable<Date>('timestamptz'),
    completed_at: nullable<Date>('timestamptz'),
    created_at: column<Date>('timestamptz'),
    updated_at: column<Date>('timestamptz'),
    spec_version: nullable<number>('int4'),
  },
  messages: {
    id: column<string>('text'),
    queue_name: column<string>('text'),
    kind: column<'workflow' | 'step'>('text'),
    run_id: nullable<string>('text'),
    payload: column<Uint8Array>('bytea'),
    headers: nullable<Record<string, string>>('jsonb'),
    idempotency_key: nullable<string>('text'),
    state: column<'pending' | 'leased' | 'done' | 'dead'>('text'),
    run_at: column<Date>('timestamptz'),
    attempt: column<number>('int4'),
    fence: column<string>('int8'),
    lease_owner: nullable<string>('text'),
    last_error: nullable<string>('text'),
    created_at: column<Date>('timestamptz'),
    updated_at: column<Date>('timestamptz'),
    finished_at: nullable<Date>('timestamptz'),
  },
  run_leases: {
    run_id: column<string>('text'),
    message_id: column<string>('text'),
    expires_at: column<Date>('timestamptz'),
  },
  run_redrives: {
    run_id: column<string>('text'),
    last_event_ms: column<string>('int8'),
    redriven_at: column<Date>('timestamptz'),
  },
  streams: {
    stream_name: column<string>('text'),
    run_id: column<string>('text'),
    next_idx: column<string>('int8'),
    closed_at: nullable<Date>('timestamptz'),
    created_at: column<Date>('timestamptz'),
    updated_at: column<Date>('timestamptz'),
  },
  stream_chunks: {
    stream_name: column<string>('text'),
    chunk_id: column<string>('text'),
    idx: column<string>('int8'),
    data: column<Uint8Array>('bytea'),
  },
  schema_migrations: {
    version: column<number>('int4'),
    name: column<string>('text'),
    checksum: column<string>('text'),
    applied_at: column<Date>('timestamptz'),
  },
  schema_definitions: {
    name: column<string>('text'),
    checksum: column<string>('text'),
    functions: column<string>('text'),
    applied_at: column<Date>('timestamptz'),
  },
};

export type Database = { [T in keyof typeof TABLES]: (typeof TABLES)[T] };
