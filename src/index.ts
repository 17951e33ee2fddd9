import type { World } from '@workflow/world';
import { SPEC_VERSION_CURRENT } from '@workflow/world';
import type { WorldOptions } from './config.js';
import { withRetry } from './db/transient-retry.js';
import { WorldPgError } from './errors.js';
import { createHealth, type HealthOptions, type HealthReport } from './health.js';
import { instrumentStorage, instrumentStreamer } from './instrument.js';
import { configureLogging } from './log.js';
import { createQueue } from './queue/index.js';
import type { QueueMetrics } from './queue/metrics.js';
import { startRetention } from './retention.js';
import { settledBy } from './shared/settled-by.js';
import { createWorldState } from './shared/world-state.js';
import { createStorage } from './storage/index.js';
import { createStreamer } from './streamer/index.js';
import { registerGauges } from './telemetry.js';

/** What stop() may take beyond shutdownTimeoutMs: releasing leases and ending the pool. */
const SHUTDOWN_GRACE_MS = 2_000;

export type { WorldConfig, WorldOptions } from './config.js';
export type { QueueMetrics } from './queue/metrics.js';
export type { HealthOptions, HealthReport, HealthStatus } from './health.js';
export { createHealthHandler, QUEUE_COUNT_CAP } from './health.js';
export type { Logger, LogContext, LogLevel, LogFormat } from './log.js';
export { resolveConfig, CONFIG_ENV } from './config.js';
export { WorldPgError, WorldPgConfigError, WorldPgMigrationError, WorldPgConnectionError } from './errors.js';
export { migrateUp, migrateDown, migrationStatus, definitionStatus, verifyMigrations, LATEST_VERSION } from './db/migrate.js';

export interface PostgresWorld extends World {
  /** Starts this instance's background work. Idempotent. */
  start(): Promise<void>;
  /** Stops background work and releases connections. Idempotent; alias of `close()`. */
  stop(): Promise<void>;
  close(): Promise<void>;
  /** Counters of this instance's queue work since it was built (delivered, retried, dead…). */
  queueMetrics(): QueueMetrics;
  /** Database, migrations, LISTEN connection, worker and queue, with an overall status. Never throws. */
  health(options?: HealthOptions): Promise<HealthReport>;
}

/**
 * Builds a World on PostgreSQL. Synchronous and free of I/O: connections open at first use.
 *
 * @example
 * import { createWorld } from 'workflow-world-postgres';
 * const world = createWorld({ connectionString: process.env.DATABASE_URL });
 * await world.start();
 * process.on('SIGTERM', () => world.stop());
 */
export function createWorld(options: WorldOptions = {}): PostgresWorld {
  configureLogging({ logger: options.logger, level: options.logLevel, format: options.logFormat });
  const state = createWorldState(options);
  const schema = () => state.getConfig().schema;
  const storage = instrumentStorage(createStorage(state.getDb), schema);
  const { start: startQueue, stop: stopQueue, workerState, ...queue } = createQueue(state);
  const { stop: stopStreamer, ...rawStreamer } = createStreamer(state);
  const streamer = instrumentStreamer(rawStreamer, schema);
  const { health, gauges } = createHealth({ getDb: state.getDb, workerState });
  let starting: Promise<void> | undefined;
  let closing: Promise<void> | undefined;
  let stopRetention: (() => void) | undefined;
  let stopGauges: (() => void) | undefined;

  // Every method is a closure: the runtime calls them detached from the object (docs/world-contract.md §1.3).
  const start = (): Promise<void> => {
    if (closing) return Promise.reject(new WorldPgError('CLOSED', 'start() after close()'));
    if (!starting) {
      const attempt = withRetry(state.getDb, { what: 'start()' }).then(async () => {
        await startQueue();
        stopGauges = registerGauges(gauges, { 'db.namespace': state.getConfig().schema });
        const { retentionDays } = state.getConfig();
        if (retentionDays > 0) stopRetention = startRetention(state.getDb, retentionDays);
      });
      starting = attempt;
      // a start that failed (database down, bad configuration) may be tried again
      attempt.catch(() => {
        if (starting === attempt) starting = undefined;
      });
    }
    return starting;
  };
  const close = (): Promise<void> => {
    closing ??= (async () => {
      // bounded in every state: a start() stuck connecting is waited for until the shutdown
      // deadline at most (then the pool is released when its connect gives up)
      let deadline = Number.POSITIVE_INFINITY;
      try {
        deadline = Date.now() + state.getConfig().shutdownTimeoutMs;
      } catch {
        // an invalid configuration: nothing was started
      }
      await settledBy(starting, deadline);
      stopRetention?.();
      stopGauges?.();
      await settledBy(Promise.allSettled([stopQueue(), stopStreamer()]), deadline + SHUTDOWN_GRACE_MS);
      await state.release(deadline + SHUTDOWN_GRACE_MS);
    })();
    return closing;
  };

  return {
    specVersion: SPEC_VERSION_CURRENT,
    ...storage,
    ...queue,
    ...streamer,
    start,
    stop: close,
    close,
    health,
  } as unknown as PostgresWorld;
}

export default createWorld;
