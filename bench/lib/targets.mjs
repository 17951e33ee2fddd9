// The three contestants behind one shape: `events.create(runId, request)` plus, for the Worlds,
// the rest of the World interface.
//   ours   — this package, imported from the built dist/ (run `npm run build` first)
//   anchor — @workflow/world-postgres@4.3.7, on its own database (fixed schemas)
//   raw    — the statements a perfect adapter needs, issued with postgres.js: one statement
//            (hence one round trip and one commit) per event, no functions, no ORM
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { monotonicFactory } from 'ulid';
import { adminSql, BASE_URL, DATABASES, dbUrl } from './common.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '..', '..');
const require = createRequire(import.meta.url);

/** Drops (if present) and creates one database on the configured server. */
export async function recreateDatabase(name) {
  const admin = adminSql(BASE_URL);
  try {
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
    await admin.unsafe(`create database "${name}"`);
  } finally {
    await admin.end();
  }
}

export async function dropDatabase(name) {
  const admin = adminSql(BASE_URL);
  try {
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
  } finally {
    await admin.end();
  }
}

/** Drops and recreates the three benchmark databases and migrates each. */
export async function prepareDatabases() {
  for (const db of Object.values(DATABASES)) await recreateDatabase(db);
  await migrateAnchor(dbUrl(DATABASES.anchor));
  await migrateRaw(dbUrl(DATABASES.raw));
  await migrateOurs(dbUrl(DATABASES.ours));
}

/** The anchor's own setup CLI (drizzle migrations + graphile-worker schema); it exits the process. */
export async function migrateAnchor(url) {
  // the package exports no ./package.json: walk up from its main entry (dist/index.js)
  const setup = path.join(path.dirname(require.resolve('@workflow/world-postgres')), '..', 'bin', 'setup.js');
  await promisify(execFile)(process.execPath, [setup], {
    env: { ...process.env, WORKFLOW_POSTGRES_URL: url },
    cwd: path.join(ROOT, 'bench'),
  });
}

export async function migrateOurs(url) {
  const { migrateUp } = await import(path.join(ROOT, 'dist', 'index.js'));
  const sql = adminSql(url);
  try {
    await migrateUp(sql, 'workflow');
  } finally {
    await sql.end();
  }
}

export const RAW_SCHEMA = `
create table runs (
  run_id text primary key, status text not null, deployment_id text not null, workflow_name text not null,
  spec_version int, input bytea, output bytea, error bytea,
  created_at timestamptz not null default now(), updated_at timestamptz not null default now(),
  started_at timestamptz, completed_at timestamptz);
create index runs_created_idx on runs (created_at, run_id);
create table steps (
  run_id text not null references runs on delete cascade, step_id text not null, step_name text not null,
  status text not null, attempt int not null default 0, input bytea, output bytea,
  created_at timestamptz not null default now(), updated_at timestamptz not null default now(),
  started_at timestamptz, completed_at timestamptz, primary key (run_id, step_id));
create table events (
  id bigint generated always as identity primary key, run_id text not null references runs on delete cascade,
  event_id text not null unique, event_type text not null, correlation_id text, data bytea,
  created_at timestamptz not null default now());
create index events_run_idx on events (run_id, id);
-- pgbench's single-row INSERT
create table pgb (id bigint generated always as identity primary key, payload text, created_at timestamptz not null default now());
`;

async function migrateRaw(url) {
  const sql = adminSql(url);
  try {
    await sql.unsafe(RAW_SCHEMA);
  } finally {
    await sql.end();
  }
}

/**
 * A perfect adapter's write path: every event is ONE statement that appends the event and
 * changes the entity (a data-modifying CTE), guarded by its WHERE clause; autocommit, prepared.
 */
export function createRawStorage(url, { max = 16 } = {}) {
  const sql = postgres(url, { max, prepare: true, onnotice() {}, connection: { application_name: 'wwp-bench-raw' } });
  const ulid = monotonicFactory();
  const eid = () => `wevt_${ulid()}`;
  const one = async (q) => {
    const [row] = await q;
    if (!row) throw new Error('raw: guard refused the event');
    return row;
  };
  async function create(runId, req) {
    const d = req.eventData ?? {};
    switch (req.eventType) {
      case 'run_created':
        return one(sql`
          with r as (insert into runs (run_id, status, deployment_id, workflow_name, spec_version, input)
                     values (${runId}, 'pending', ${d.deploymentId}, ${d.workflowName}, 3, ${d.input}) returning run_id)
          insert into events (run_id, event_id, event_type, data) select run_id, ${eid()}, 'run_created', ${d.input} from r
          returning id, created_at`);
      case 'run_started':
        return one(sql`
          with r as (update runs set status = 'running', started_at = now(), updated_at = now()
                      where run_id = ${runId} and status = 'pending' returning run_id)
          insert into events (run_id, event_id, event_type) select run_id, ${eid()}, 'run_started' from r
          returning id, created_at`);
      case 'step_created':
        return one(sql`
          with s as (insert into steps (run_id, step_id, step_name, status, input)
                     values (${runId}, ${req.correlationId}, ${d.stepName}, 'pending', ${d.input}) returning run_id, step_id)
          insert into events (run_id, event_id, event_type, correlation_id, data)
          select run_id, ${eid()}, 'step_created', step_id, ${d.input} from s returning id, created_at`);
      case 'step_started':
        return one(sql`
          with s as (update steps set status = 'running', attempt = attempt + 1, started_at = now(), updated_at = now()
                      where run_id = ${runId} and step_id = ${req.correlationId} and status = 'pending' returning run_id, step_id)
          insert into events (run_id, event_id, event_type, correlation_id)
          select run_id, ${eid()}, 'step_started', step_id from s returning id, created_at`);
      case 'step_completed':
        return one(sql`
          with s as (update steps set status = 'completed', output = ${d.result}, completed_at = now(), updated_at = now()
                      where run_id = ${runId} and step_id = ${req.correlationId} and status = 'running' returning run_id, step_id)
          insert into events (run_id, event_id, event_type, correlation_id, data)
          select run_id, ${eid()}, 'step_completed', step_id, ${d.result} from s returning id, created_at`);
      case 'run_completed':
        return one(sql`
          with r as (update runs set status = 'completed', output = ${d.output}, completed_at = now(), updated_at = now()
                      where run_id = ${runId} and status = 'running' returning run_id)
          insert into events (run_id, event_id, event_type, data) select run_id, ${eid()}, 'run_completed', ${d.output} from r
          returning id, created_at`);
      default:
        throw new Error(`raw: ${req.eventType} not modelled`);
    }
  }
  return { events: { create }, close: () => sql.end({ timeout: 5 }), sql };
}

/**
 * Opens a contestant. `url` may point at the counting proxy. Options: poolSize, start (start
 * the World's background work), applicationName (ours only).
 */
export async function openTarget(name, { url, poolSize = 16, queueConcurrency, extra = {} } = {}) {
  if (name === 'ours') {
    const { createWorld } = await import(path.join(ROOT, 'dist', 'index.js'));
    const world = createWorld({
      connectionString: url,
      schema: 'workflow',
      poolSize,
      migrate: 'verify',
      ...(queueConcurrency !== undefined ? { queueConcurrency } : {}),
      ...extra,
    });
    return { world, close: () => world.close() };
  }
  if (name === 'anchor') {
    const { createWorld } = await import('@workflow/world-postgres');
    const world = createWorld({
      connectionString: url,
      maxPoolSize: poolSize,
      queueConcurrency: queueConcurrency ?? 10,
      ...extra,
    });
    return { world, close: () => world.close() };
  }
  if (name === 'raw') {
    const raw = createRawStorage(url, { max: poolSize });
    return { world: raw, close: raw.close, sql: raw.sql };
  }
  throw new Error(`unknown target ${name}`);
}
