// Scenario 5 — growth: runs.list, events.list and steps.get latency with 10k, 100k and 1M rows
// in the events table (each run: one step, six events — run_created, run_started, step_created,
// step_started, step_completed, run_completed — so runs and steps hold N/6 rows each).
//
// Rows are bulk-loaded with INSERT … SELECT generate_series, cloned from one lifecycle written
// through the World's own events.create (so payloads, pointers and encodings are the World's),
// then VACUUM ANALYZE (what autovacuum would reach on its own). Loads are cumulative.
import { monotonicFactory } from 'ulid';
import { adminSql, DATABASES, dbUrl, now, progress, summarize } from '../lib/common.mjs';
import { dropDatabase, migrateAnchor, migrateOurs, openTarget, recreateDatabase } from '../lib/targets.mjs';
import { runLifecycle } from './storage.mjs';

const EVENTS_PER_RUN = 6;
const rid = (i) => `'wrun_' || lpad(upper(to_hex(${i})), 26, '0')`;
const sid = (i) => `'step_' || lpad(upper(to_hex(${i})), 26, '0')`;
const ts = (i) => `(timestamptz '2025-01-01' + (${i}) * interval '10 ms')`;
const runIdOf = (i) => `wrun_${i.toString(16).toUpperCase().padStart(26, '0')}`;
const stepIdOf = (i) => `step_${i.toString(16).toUpperCase().padStart(26, '0')}`;

/** INSERT INTO table SELECT <every column, some replaced> FROM generate_series, template. */
async function cloneInto(sql, schema, table, overrides, from, extra = '') {
  const cols = await sql`
    select column_name, is_generated, identity_generation from information_schema.columns
     where table_schema = ${schema} and table_name = ${table} order by ordinal_position`;
  const names = cols.map((c) => c.column_name);
  const exprs = names.map((n) => overrides[n] ?? `t."${n}"`);
  const identity = cols.some((c) => c.identity_generation === 'ALWAYS' && overrides[c.column_name]);
  await sql.unsafe(
    `insert into "${schema}"."${table}" (${names.map((n) => `"${n}"`).join(', ')}) ${identity ? 'overriding system value' : ''}
     select ${exprs.join(', ')} from ${from} ${extra}`,
  );
}

const LOADERS = {
  /** migrations/0001: runs/steps point at their events by events.id (input_event, result_event). */
  async ours(sql, tmplRun, a, b) {
    const s = 'workflow';
    const [{ base }] = await sql`select coalesce(max(id), 0)::bigint as base from workflow.events`;
    const ev = (k) => `(${base} + (g.i - ${a}) * ${EVENTS_PER_RUN} + ${k})`;
    const series = `generate_series(${a}, ${b}) g(i)`;
    await cloneInto(sql, s, 'runs', {
      run_id: rid('g.i'), input_event: ev(1), result_event: ev(6),
      started_at: ts('g.i'), completed_at: ts('g.i'), created_at: ts('g.i'), updated_at: ts('g.i'),
      last_event_ms: `(extract(epoch from ${ts('g.i')}) * 1000)::bigint`, state_marker_ms: 'null',
    }, `${series}, "${s}".runs t`, `where t.run_id = '${tmplRun}'`);
    await cloneInto(sql, s, 'events', {
      id: ev('t.k'), run_id: rid('g.i'), event_id: `'wevt_' || lpad(upper(to_hex(g.i * 8 + t.k)), 26, '0')`,
      correlation_id: `case when t.correlation_id is null then null else ${sid('g.i')} end`, created_at: ts('g.i'),
    }, `${series}, (select row_number() over (order by id) as k, * from "${s}".events where run_id = '${tmplRun}') t`, 'order by 1');
    await cloneInto(sql, s, 'steps', {
      run_id: rid('g.i'), step_id: sid('g.i'), input_event: ev(3), result_event: ev(5),
      started_at: ts('g.i'), completed_at: ts('g.i'), created_at: ts('g.i'), updated_at: ts('g.i'),
    }, `${series}, "${s}".steps t`, `where t.run_id = '${tmplRun}'`);
    await sql.unsafe(`select setval(pg_get_serial_sequence('"${s}".events', 'id'), (select max(id) from "${s}".events))`);
    return ['runs', 'events', 'steps'].map((t) => `"${s}"."${t}"`);
  },
  /** @workflow/world-postgres 4.3.7: payload copies on the entity rows, text ids. */
  async anchor(sql, tmplRun, a, b) {
    const s = 'workflow';
    const series = `generate_series(${a}, ${b}) g(i)`;
    await cloneInto(sql, s, 'workflow_runs', {
      id: rid('g.i'), created_at: ts('g.i'), updated_at: ts('g.i'), completed_at: ts('g.i'), started_at: ts('g.i'),
    }, `${series}, "${s}".workflow_runs t`, `where t.id = '${tmplRun}'`);
    await cloneInto(sql, s, 'workflow_events', {
      id: `'wevt_' || lpad(upper(to_hex(g.i * 8 + t.k)), 26, '0')`, run_id: rid('g.i'),
      correlation_id: `case when t.correlation_id is null then null else ${sid('g.i')} end`, created_at: ts('g.i'),
    }, `${series}, (select row_number() over (order by id) as k, * from "${s}".workflow_events where run_id = '${tmplRun}') t`, 'order by 1');
    await cloneInto(sql, s, 'workflow_steps', {
      run_id: rid('g.i'), step_id: sid('g.i'),
      started_at: ts('g.i'), completed_at: ts('g.i'), created_at: ts('g.i'), updated_at: ts('g.i'),
    }, `${series}, "${s}".workflow_steps t`, `where t.run_id = '${tmplRun}'`);
    return ['workflow_runs', 'workflow_events', 'workflow_steps'].map((t) => `"${s}"."${t}"`);
  },
};

const MIGRATE = { ours: migrateOurs, anchor: migrateAnchor };

async function timeCalls(n, fn, into) {
  for (let i = 0; i < n; i++) {
    const t = now();
    await fn();
    into.push(now() - t);
  }
}

const CALLS = {
  runsList: (world) => world.runs.list({ pagination: { limit: 20 } }),
  eventsList: (world, i) => world.events.list({ runId: runIdOf(i) }),
  stepsGet: (world, i) => world.steps.get(runIdOf(i), stepIdOf(i)),
};

/**
 * One database per size (wwp_bench_<target>_g<rows>), all loaded first; then the measuring
 * rounds visit the sizes in turn, so the machine's changing load falls on every size alike.
 * The databases are dropped at the end.
 */
export async function run({ target, scales = [10_000, 100_000, 1_000_000], calls = 300, rounds = 3, keep = false }) {
  const sizes = [];
  const out = { target, eventsPerRun: EVENTS_PER_RUN, rounds, byRows: {} };
  try {
    for (const rows of scales) {
      const database = `${DATABASES[target]}_g${rows}`;
      const url = dbUrl(database);
      progress(`growth ${target}: creating ${database}`);
      await recreateDatabase(database);
      await MIGRATE[target](url);
      const sql = adminSql(url);
      const { world, close } = await openTarget(target, { url, poolSize: 2 });
      sizes.push({ rows, database, sql, world, close });
      const tmplRun = await runLifecycle(world, 1);
      const lifecycles = Math.round(rows / EVENTS_PER_RUN);
      progress(`growth ${target}: loading ${rows.toLocaleString('en')} events`);
      const t0 = now();
      const tables = await LOADERS[target](sql, tmplRun, 1, lifecycles);
      await sql.unsafe(`vacuum analyze ${tables.join(', ')}`);
      const [{ events }] = await sql.unsafe(`select count(*)::int as events from ${tables[1]}`);
      const [{ bytes }] = await sql.unsafe(`select pg_database_size(current_database())::float8 as bytes`);
      out.byRows[rows] = { events, runs: lifecycles + 1, loadMs: now() - t0, databaseMiB: bytes / 2 ** 20 };
      Object.assign(sizes.at(-1), { lifecycles, lat: { runsList: [], eventsList: [], stepsGet: [] }, roundP50: { runsList: [], eventsList: [], stepsGet: [] } });
      for (const k of Object.keys(CALLS)) await CALLS[k](world, 1); // prepare
    }
    const per = Math.max(1, Math.round(calls / rounds));
    for (let r = 0; r < rounds; r++) {
      for (const size of sizes) {
        progress(`growth ${target}: round ${r + 1}/${rounds} at ${size.rows.toLocaleString('en')} events`);
        for (const k of Object.keys(CALLS)) {
          const lat = [];
          await timeCalls(per, () => CALLS[k](size.world, 1 + Math.floor(Math.random() * size.lifecycles)), lat);
          size.lat[k].push(...lat);
          size.roundP50[k].push(summarize(lat).p50);
        }
      }
    }
    for (const size of sizes) {
      for (const k of Object.keys(CALLS)) {
        const s = summarize(size.lat[k]);
        out.byRows[size.rows][k] = { p50: s.p50, p99: s.p99, mean: s.mean, roundP50: size.roundP50[k] };
      }
      // sanity: the clones read back as whole entities through the World
      const i = Math.max(1, size.lifecycles >> 1);
      const page = await size.world.events.list({ runId: runIdOf(i) });
      const step = await size.world.steps.get(runIdOf(i), stepIdOf(i));
      out.byRows[size.rows].check = { eventsOfOneRun: page.data.length, stepStatus: step.status, stepHasOutput: step.output !== undefined };
    }
  } finally {
    for (const size of sizes) {
      await size.close().catch(() => {});
      await size.sql.end().catch(() => {});
      if (!keep) await dropDatabase(size.database).catch(() => {});
    }
  }
  return out;
}
