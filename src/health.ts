import type { Db } from './db/client.js';
import { listenerState } from './db/listener.js';
import { definitionStatus, LATEST_VERSION, migrationStatus } from './db/migrate.js';
import { query } from './db/statement.js';
import { describeError } from './log.js';
import type { WorkerState } from './queue/worker.js';
import type { Gauges } from './telemetry.js';

/**
 * world.health(): what an operator's readiness probe, the `health` command and a dashboard ask of
 * a World. It never throws: every check has a timeout, and a check that fails or times out
 * reports 'down' for itself. It costs a handful of statements, none of which grows with the
 * tables: the queue figures are counted on partial indexes and capped at QUEUE_COUNT_CAP, and the
 * migration and queue figures are cached for CACHE_MS, so a probe every second costs one
 * round trip most of the time.
 */
export type HealthStatus = 'ok' | 'degraded' | 'down';

export interface HealthReport {
  /** 'down': this World cannot do its work; 'degraded': it can, but something needs a look. */
  status: HealthStatus;
  /** Why the status is not 'ok', one sentence each. */
  reasons: string[];
  checkedAt: string;
  database: { status: HealthStatus; latencyMs: number | null; error?: string };
  migrations: {
    status: HealthStatus;
    /** The newest applied versioned migration, and the newest this package knows. */
    version: number;
    latest: number;
    /** Migrations and definition files not applied (or applied with other text). */
    pending: string[];
    error?: string;
  };
  listener: { status: 'up' | 'reconnecting' | 'unused'; since: string | null };
  worker: {
    status: WorkerState['status'];
    inFlight: number;
    concurrency: number;
    lastClaimAt: string | null;
  };
  queue: {
    status: HealthStatus;
    /** Messages by state; a count of QUEUE_COUNT_CAP means "at least that many". */
    ready: number;
    delayed: number;
    leased: number;
    dead: number;
    /** How long the oldest message that is due has waited to be claimed. */
    oldestReadyAgeMs: number | null;
    error?: string;
  };
}

export interface HealthOptions {
  /** Each check's own bound (default 2,000 ms). */
  timeoutMs?: number;
  /** Oldest ready message age above which the queue is 'degraded' (default 60,000 ms). */
  maxReadyAgeMs?: number;
}

export const QUEUE_COUNT_CAP = 10_000;
const CACHE_MS = 2_000;

interface Sources {
  getDb(): Promise<Db>;
  workerState(): WorkerState;
}

type Cached<T> = { at: number; value: T } | undefined;

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function createHealth({ getDb, workerState }: Sources) {
  let migrationsCache: Cached<HealthReport['migrations']>;
  let queueCache: Cached<Omit<HealthReport['queue'], 'status'>>;
  const fresh = <T>(c: Cached<T>) => (c && Date.now() - c.at < CACHE_MS ? c.value : undefined);

  async function migrations(db: Db): Promise<HealthReport['migrations']> {
    const cached = fresh(migrationsCache);
    if (cached) return cached;
    const [states, definitions] = await Promise.all([migrationStatus(db.sql, db.schema), definitionStatus(db.sql, db.schema)]);
    const applied = states.filter((s) => s.applied && !s.changed);
    const pending = [
      ...states.filter((s) => !s.applied || s.changed).map((s) => `${String(s.version).padStart(4, '0')}_${s.name}`),
      ...definitions.filter((d) => !d.current).map((d) => `definitions/${d.name}`),
    ];
    const value: HealthReport['migrations'] = {
      status: states.some((s) => s.changed) || applied.length === 0 ? 'down' : pending.length ? 'degraded' : 'ok',
      version: Math.max(0, ...applied.map((s) => s.version)),
      latest: LATEST_VERSION,
      pending,
    };
    migrationsCache = { at: Date.now(), value };
    return value;
  }

  async function queueFigures(db: Db): Promise<Omit<HealthReport['queue'], 'status'>> {
    const cached = fresh(queueCache);
    if (cached) return cached;
    const s = db.ident;
    // each count walks its partial index and stops at the cap (migrations/0002_queue.up.sql)
    const capped = (where: string) => `(select count(*) from (select 1 from ${s}.messages where ${where} limit $1) c)::int`;
    const [row] = await query<{ ready: number; delayed: number; leased: number; dead: number; oldest_ms: string | null }>(
      db,
      `select ${capped(`state = 'pending' and run_at <= now()`)} as ready,
              ${capped(`state = 'pending' and run_at > now()`)} as delayed,
              ${capped(`state = 'leased'`)} as leased,
              ${capped(`state = 'dead'`)} as dead,
              (select floor(extract(epoch from now() - run_at) * 1000)::bigint from ${s}.messages
                where state = 'pending' and run_at <= now() order by run_at, id limit 1) as oldest_ms`,
      [QUEUE_COUNT_CAP],
    );
    const value = {
      ready: row!.ready,
      delayed: row!.delayed,
      leased: row!.leased,
      dead: row!.dead,
      oldestReadyAgeMs: row!.oldest_ms === null ? null : Number(row!.oldest_ms),
    };
    queueCache = { at: Date.now(), value };
    return value;
  }

  async function health(options: HealthOptions = {}): Promise<HealthReport> {
    const timeoutMs = options.timeoutMs ?? 2_000;
    const maxReadyAgeMs = options.maxReadyAgeMs ?? 60_000;
    const reasons: string[] = [];
    const worker = workerState();
    const report: HealthReport = {
      status: 'ok',
      reasons,
      checkedAt: new Date().toISOString(),
      database: { status: 'down', latencyMs: null },
      migrations: { status: 'down', version: 0, latest: LATEST_VERSION, pending: [] },
      listener: { status: 'unused', since: null },
      worker: { ...worker, lastClaimAt: worker.lastClaimAt?.toISOString() ?? null },
      queue: { status: 'down', ready: 0, delayed: 0, leased: 0, dead: 0, oldestReadyAgeMs: null },
    };
    let db: Db | undefined;
    try {
      db = await within(getDb(), timeoutMs, 'connecting');
      const started = performance.now();
      await within(query(db, 'select 1'), timeoutMs, 'the database');
      report.database = { status: 'ok', latencyMs: Math.round((performance.now() - started) * 10) / 10 };
    } catch (error) {
      report.database.error = describeError(error);
      reasons.push(`database unreachable: ${describeError(error)}`);
    }
    if (db && report.database.status === 'ok') {
      const [migrationsResult, queueResult] = await Promise.allSettled([
        within(migrations(db), timeoutMs, 'the migration check'),
        within(queueFigures(db), timeoutMs, 'the queue check'),
      ]);
      if (migrationsResult.status === 'fulfilled') {
        report.migrations = migrationsResult.value;
        if (report.migrations.status !== 'ok') {
          reasons.push(
            report.migrations.version === 0
              ? `schema "${db.schema}" does not exist or is not migrated: run migrate up or start()`
              : `migrations pending or changed: ${report.migrations.pending.join(', ')}`,
          );
        }
      } else {
        report.migrations.error = describeError(migrationsResult.reason);
        reasons.push(`migration check failed: ${describeError(migrationsResult.reason)}`);
      }
      if (queueResult.status === 'fulfilled') {
        const q = queueResult.value;
        const late = q.oldestReadyAgeMs !== null && q.oldestReadyAgeMs > maxReadyAgeMs;
        report.queue = { status: late || q.dead > 0 ? 'degraded' : 'ok', ...q };
        if (late) reasons.push(`the oldest ready message has waited ${Math.round(q.oldestReadyAgeMs! / 1000)} s to be claimed`);
        if (q.dead > 0) reasons.push(`${q.dead === QUEUE_COUNT_CAP ? `${q.dead}+` : q.dead} dead-lettered message(s): see \`workflow-world-postgres dlq list\``);
      } else {
        report.queue.error = describeError(queueResult.reason);
        reasons.push(`queue check failed: ${describeError(queueResult.reason)}`);
      }
      const listener = listenerState(db.config);
      report.listener = { status: listener.status, since: listener.since?.toISOString() ?? null };
      if (listener.status === 'reconnecting') reasons.push(`the LISTEN connection is reconnecting since ${report.listener.since}`);
    }
    if (worker.status === 'stopping') reasons.push('the queue worker is stopping');
    const checks = [report.database.status, report.migrations.status, report.queue.status];
    report.status = checks.includes('down')
      ? 'down'
      : checks.includes('degraded') || report.listener.status === 'reconnecting' || worker.status === 'stopping'
        ? 'degraded'
        : 'ok';
    return report;
  }

  let gaugesCache: Cached<Gauges>;
  /** The figures of the OpenTelemetry gauges (telemetry.ts), one collection every CACHE_MS at most. */
  async function gauges(): Promise<Gauges> {
    const cached = fresh(gaugesCache);
    if (cached) return cached;
    const db = await getDb();
    const [queue, [row], connections] = await Promise.all([
      queueFigures(db),
      query<{ active: number }>(
        db,
        `select count(*)::int as active from (select 1 from ${db.ident}.runs where status in ('pending', 'running') limit $1) r`,
        [QUEUE_COUNT_CAP],
      ),
      query<{ state: string | null; n: number }>(
        db,
        `select state, count(*)::int as n from pg_stat_activity
          where application_name = $1 and datname = current_database() group by state`,
        [db.config.applicationName],
      ),
    ]);
    const value: Gauges = {
      queue,
      activeRuns: row!.active,
      connections: {
        active: connections.filter((c) => c.state !== 'idle').reduce((sum, c) => sum + c.n, 0),
        idle: connections.find((c) => c.state === 'idle')?.n ?? 0,
      },
    };
    gaugesCache = { at: Date.now(), value };
    return value;
  }

  return { health, gauges };
}

/**
 * A `(Request) => Promise<Response>` for health probes. `probe: 'liveness'` answers 200 without
 * touching the database (the process is up); `'readiness'` (the default) answers the report,
 * 200 unless it is 'down' (503). `?probe=liveness` or `?probe=readiness` in the request URL picks
 * the probe per request, so one route can serve both.
 *
 * @example
 * // Next.js: app/api/health/route.ts
 * export const GET = createHealthHandler(world);
 * // node:http: see README.md, Health
 */
export function createHealthHandler(
  world: { health(options?: HealthOptions): Promise<HealthReport> },
  options: HealthOptions & { probe?: 'liveness' | 'readiness' } = {},
): (request: Request) => Promise<Response> {
  return async (request) => {
    let probe = options.probe ?? 'readiness';
    try {
      const asked = new URL(request.url).searchParams.get('probe');
      if (asked === 'liveness' || asked === 'readiness') probe = asked;
    } catch {
      // a relative or odd URL: keep the configured probe
    }
    const headers = { 'content-type': 'application/json', 'cache-control': 'no-store' };
    if (probe === 'liveness') {
      return new Response(JSON.stringify({ status: 'ok', probe: 'liveness', uptimeS: Math.round(process.uptime()) }), { status: 200, headers });
    }
    const report = await world.health(options);
    return new Response(JSON.stringify(report), { status: report.status === 'down' ? 503 : 200, headers });
  };
}
