// Shared helpers of the benchmark: database URLs, statistics, timing, child-process protocol.
import { performance } from 'node:perf_hooks';
import postgres from 'postgres';

export const BASE_URL = process.env.WORKFLOW_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * One database per contestant, so that pg_stat_database counts only its own traffic. Their names
 * start with WWP_BENCH_DB_PREFIX (default `wwp_bench`), so that runs beside each other (the test
 * suite's quick run next to another) do not share databases.
 */
const PREFIX = process.env.WWP_BENCH_DB_PREFIX || 'wwp_bench';
export const DATABASES = {
  ours: `${PREFIX}_ours`,
  anchor: `${PREFIX}_anchor`,
  raw: `${PREFIX}_raw`,
};

/** The URL of `database` on the configured server (same host, port and credentials). */
export function dbUrl(database, base = BASE_URL) {
  const u = new URL(base);
  u.pathname = `/${database}`;
  return u.toString();
}

/** The same URL pointed at another port on the loopback (the counting proxy). */
export function viaPort(url, port) {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(port);
  return u.toString();
}

/** A small postgres.js connection for the harness itself (never the measured client). */
export function adminSql(url = BASE_URL, max = 1) {
  return postgres(url, { max, onnotice() {}, connection: { application_name: 'wwp-bench-monitor' } });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const now = () => performance.now();

/** Percentile of an ascending-sorted numeric array (nearest rank). */
export function pct(sorted, p) {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export function summarize(latencies) {
  const s = Float64Array.from(latencies).sort();
  let sum = 0;
  for (const v of s) sum += v;
  return { n: s.length, p50: pct(s, 50), p99: pct(s, 99), mean: s.length ? sum / s.length : null, max: s.at(-1) ?? null };
}

export function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** Median of the repetitions and their spread: (max - min) / median, as a fraction. */
export function aggregate(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x));
  const med = median(v);
  if (med === null) return { median: null, min: null, max: null, spread: null, reps: v.length };
  const min = Math.min(...v);
  const max = Math.max(...v);
  return { median: med, min, max, spread: med ? (max - min) / Math.abs(med) : 0, reps: v.length };
}

/** Child → parent protocol: one JSON line per message on stdout. */
export function emit(type, payload) {
  process.stdout.write(`@@bench ${JSON.stringify({ type, ...payload })}\n`);
}
export const progress = (text) => emit('progress', { text });

/** pg_stat_database counters of one database, read from another database's connection. */
export async function dbCounters(monitor, database) {
  await monitor`select pg_stat_clear_snapshot()`;
  const [row] = await monitor`
    select xact_commit::float8 as commits, xact_rollback::float8 as rollbacks,
           tup_inserted::float8 as inserted, tup_updated::float8 as updated,
           tup_deleted::float8 as deleted, tup_returned::float8 as returned, tup_fetched::float8 as fetched
      from pg_stat_database where datname = ${database}`;
  return row;
}

/** Backends in `database` other than the harness's own. */
export async function connectionsOf(monitor, database) {
  const rows = await monitor`
    select coalesce(nullif(application_name, ''), '(none)') as app, state, count(*)::int as n
      from pg_stat_activity
     where datname = ${database} and backend_type = 'client backend' and pid <> pg_backend_pid()
       and application_name <> 'wwp-bench-monitor'
     group by 1, 2 order by 1, 2`;
  return { total: rows.reduce((a, r) => a + r.n, 0), byApp: rows };
}

/**
 * Backends flush their statistics at most once a second, and only when idle or exiting: wait
 * that long before reading pg_stat_database after a measured phase.
 */
export const STATS_FLUSH_MS = 1_300;

export function parseArgs(argv) {
  const out = {};
  for (const a of argv) {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
    if (m) out[m[1]] = m[2] ?? true;
  }
  return out;
}

/**
 * CPU seconds (user + system) consumed so far by the server backends connected to `database`,
 * read from /proc (the server runs on this machine). Backends that exit between two readings
 * are lost, so read around a phase during which the client keeps its connections open.
 */
export async function backendCpuSeconds(monitor, database) {
  const { readFileSync } = await import('node:fs');
  const rows = await monitor`
    select pid from pg_stat_activity where datname = ${database} and backend_type = 'client backend' and pid <> pg_backend_pid()`;
  let ticks = 0;
  let seen = 0;
  for (const { pid } of rows) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
      seen++;
    } catch {
      // not on this machine, or gone
    }
  }
  return seen ? { seconds: ticks / 100, backends: seen, pids: rows.map((r) => r.pid) } : null;
}
