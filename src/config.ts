import type { Sql } from 'postgres';
import { z } from 'zod';
import { WorldPgConfigError } from './errors.js';
import { LOG_LEVELS, type Logger } from './log.js';
import { formatIssues } from './validation.js';

/**
 * Configuration: per field, explicit option > environment variable > default.
 * `createWorld()` only stores the options; `resolveConfig()` runs at the first database use,
 * so a factory built at build time with an incomplete environment never throws.
 */
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z.union([z.boolean(), z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')]);

const ConfigSchema = z.object({
  connectionString: z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL').optional(),
  listenConnectionString: z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL').optional(),
  schema: z
    .string()
    .min(1)
    .refine((s) => Buffer.byteLength(s) <= 63 && !s.includes('\u0000'), 'expected at most 63 bytes and no NUL')
    .default('workflow'),
  poolSize: int(1, 1_000).default(10),
  queueConcurrency: int(0, 10_000).default(10),
  retentionDays: int(0, 36_500).default(0),
  migrate: z.enum(['auto', 'verify', 'off']).default('auto'),
  applicationName: z.string().min(1).max(63).default('workflow-world-postgres'),
  statementTimeoutMs: int(0, 86_400_000).default(60_000),
  prepare: bool.default(true),
  deploymentId: z.string().min(1).default('postgres'),
  shutdownTimeoutMs: int(0, 3_600_000).default(10_000),
  // How long opening one connection may take before it counts as failed (then retried).
  connectTimeoutMs: int(100, 600_000).default(10_000),
  // Queue (src/queue): HTTP delivery, leases, retries, wake-ups and recovery.
  queueSecret: z.string().min(16, 'expected at least 16 characters').optional(),
  appUrl: z.string().regex(/^https?:\/\/[^/]/, 'expected an http(s):// URL').optional(),
  queueLeaseMs: int(500, 3_600_000).default(30_000),
  // The runtime fails a run cleanly at delivery 49 (MAX_QUEUE_DELIVERIES + 1): keep room above it.
  queueMaxAttempts: int(1, 100_000).default(64),
  queueRetryBaseMs: int(1, 3_600_000).default(1_000),
  queueRetryMaxMs: int(1, 86_400_000).default(300_000),
  queuePollMs: int(50, 600_000).default(4_000),
  queueIdempotencyWindowMs: int(0, 2_592_000_000).default(60_000),
  queueReconcileIntervalMs: int(0, 86_400_000).default(60_000),
  // Streams (src/streamer): how often a caught-up reader re-checks without a notification.
  streamPollMs: int(10, 600_000).default(5_000),
  // Logs (src/log.ts): applied process-wide.
  logLevel: z.enum(LOG_LEVELS).optional(),
  logFormat: z.enum(['text', 'json']).optional(),
});

export type WorldConfig = z.output<typeof ConfigSchema> & {
  connectionString: string | undefined;
  /** A postgres.js instance owned by the app: used for queries, never ended by the World. */
  sql?: Sql;
};

export type WorldOptions = Partial<z.input<typeof ConfigSchema>> & {
  sql?: Sql;
  /** Any logger taking `(object, message)`, as pino does; process-wide (src/log.ts). */
  logger?: Logger;
};

const ENV: Record<keyof z.input<typeof ConfigSchema>, string | undefined> = {
  connectionString: 'WORKFLOW_POSTGRES_URL',
  listenConnectionString: 'WORKFLOW_POSTGRES_LISTEN_URL',
  schema: 'WORKFLOW_POSTGRES_SCHEMA',
  poolSize: 'WORKFLOW_POSTGRES_POOL_SIZE',
  queueConcurrency: 'WORKFLOW_POSTGRES_QUEUE_CONCURRENCY',
  retentionDays: 'WORKFLOW_POSTGRES_RETENTION_DAYS',
  migrate: 'WORKFLOW_POSTGRES_MIGRATE',
  applicationName: 'WORKFLOW_POSTGRES_APPLICATION_NAME',
  statementTimeoutMs: 'WORKFLOW_POSTGRES_STATEMENT_TIMEOUT_MS',
  prepare: 'WORKFLOW_POSTGRES_PREPARE',
  deploymentId: 'WORKFLOW_POSTGRES_DEPLOYMENT_ID',
  shutdownTimeoutMs: 'WORKFLOW_POSTGRES_SHUTDOWN_TIMEOUT_MS',
  connectTimeoutMs: 'WORKFLOW_POSTGRES_CONNECT_TIMEOUT_MS',
  queueSecret: 'WORKFLOW_POSTGRES_QUEUE_SECRET',
  appUrl: 'WORKFLOW_POSTGRES_APP_URL',
  queueLeaseMs: 'WORKFLOW_POSTGRES_QUEUE_LEASE_MS',
  queueMaxAttempts: 'WORKFLOW_POSTGRES_QUEUE_MAX_ATTEMPTS',
  queueRetryBaseMs: 'WORKFLOW_POSTGRES_QUEUE_RETRY_BASE_MS',
  queueRetryMaxMs: 'WORKFLOW_POSTGRES_QUEUE_RETRY_MAX_MS',
  queuePollMs: 'WORKFLOW_POSTGRES_QUEUE_POLL_MS',
  queueIdempotencyWindowMs: 'WORKFLOW_POSTGRES_QUEUE_IDEMPOTENCY_WINDOW_MS',
  queueReconcileIntervalMs: 'WORKFLOW_POSTGRES_QUEUE_RECONCILE_INTERVAL_MS',
  streamPollMs: 'WORKFLOW_POSTGRES_STREAM_POLL_MS',
  logLevel: 'WORKFLOW_POSTGRES_LOG_LEVEL',
  logFormat: 'WORKFLOW_POSTGRES_LOG_FORMAT',
};

/** Environment variable names, for the README table and error messages. */
export const CONFIG_ENV = ENV;

export function resolveConfig(options: WorldOptions = {}, env: NodeJS.ProcessEnv = process.env): WorldConfig {
  const input: Record<string, unknown> = {};
  for (const [key, envName] of Object.entries(ENV)) {
    const explicit = (options as Record<string, unknown>)[key];
    const fromEnv = envName ? env[envName]?.trim() || undefined : undefined;
    input[key] = explicit ?? fromEnv;
  }
  input.connectionString ??= env.DATABASE_URL?.trim() || undefined;

  const parsed = ConfigSchema.safeParse(input);
  if (!parsed.success) {
    const detail = formatIssues(parsed.error, ([key = '']) => {
      const envName = ENV[String(key) as keyof typeof ENV];
      return `${String(key)}${envName ? ` (${envName})` : ''}`;
    });
    throw new WorldPgConfigError('CONFIG_INVALID', `invalid configuration: ${detail}`);
  }
  return { ...parsed.data, connectionString: parsed.data.connectionString, sql: options.sql };
}

/** Throws the message a user needs when neither a URL nor an `sql` instance is configured. */
export function requireConnection(config: WorldConfig): void {
  if (!config.sql && !config.connectionString) {
    throw new WorldPgConfigError(
      'CONFIG_MISSING',
      'no database configured: set WORKFLOW_POSTGRES_URL (or DATABASE_URL), or pass `connectionString` or `sql` to createWorld()',
    );
  }
}
