import { setTimeout as sleep } from 'node:timers/promises';
import { WorldPgConnectionError, worldErrors } from '../errors.js';
import { describeError, log, type LogContext } from '../log.js';
import { AUTH_CODES, DATABASE_NOT_FOUND, errorCode, isSafeToRetry } from './sqlstate.js';

/**
 * A refused login or a missing database as a typed error with what to do. The server's message
 * names the role or database, never the password.
 */
export function connectionRefusal(error: unknown): WorldPgConnectionError | undefined {
  const code = errorCode(error);
  const detail = error instanceof Error ? error.message : String(error);
  if (code !== undefined && AUTH_CODES.has(code)) {
    return new WorldPgConnectionError(
      'AUTH_FAILED',
      `the server refused the login: ${detail}`,
      'check the user and password of WORKFLOW_POSTGRES_URL (or connectionString), and that the role may log in',
      { cause: error },
    );
  }
  if (code === DATABASE_NOT_FOUND) {
    return new WorldPgConnectionError(
      'DATABASE_NOT_FOUND',
      `the database does not exist: ${detail}`,
      'create it (createdb) or fix the database name in WORKFLOW_POSTGRES_URL (or connectionString)',
      { cause: error },
    );
  }
  return undefined;
}

/**
 * Runs one database operation, retrying transient failures (a terminated or restarted
 * connection, a deadlock, a serialization failure…) with jittered, capped exponential backoff,
 * as long as sending it again is safe: always when the operation is idempotent (reads, and
 * writes the database recognises when repeated), otherwise only when the server guarantees
 * nothing was applied. What still fails transiently becomes a 503 `WorkflowWorldError`
 * (`code: 'TRANSPORT'`), which the runtime answers with a redelivery; a data exception (SQLSTATE
 * class 22, e.g. U+0000 in a text field) is the caller's fault and becomes a 400.
 */
export interface RetryOptions {
  /** What was being done, for messages: 'runs.get', 'writing to stream'… */
  what: string;
  /** Ids for log lines (run, step, stream…), never payloads. */
  context?: LogContext;
  /** Whether repeating an operation that may have been applied is harmless (default true). */
  idempotent?: boolean;
  /** Attempts before giving up with a 503 (default 4); live stream readers pass Infinity. */
  attempts?: number;
  /** Aborts the backoff sleep (a cancelled reader stops retrying at once). */
  signal?: AbortSignal;
}

const FIRST_DELAY_MS = 50;
const MAX_DELAY_MS = 5_000;

export async function withRetry<T>(op: () => Promise<T>, opts: RetryOptions): Promise<T> {
  const attempts = opts.attempts ?? 4;
  const idempotent = opts.idempotent ?? true;
  for (let attempt = 1; ; attempt++) {
    opts.signal?.throwIfAborted();
    try {
      return await op();
    } catch (error) {
      const refused = connectionRefusal(error);
      if (refused) throw refused;
      if (errorCode(error)?.startsWith('22')) {
        throw worldErrors.badRequest(`invalid request (${opts.what}): ${describeError(error)}`);
      }
      if (!isSafeToRetry(error, idempotent)) {
        if (isSafeToRetry(error, true)) {
          // transient, but the write may have been applied: let the caller's redelivery decide
          throw worldErrors.unavailable(`database connection lost during ${opts.what}: ${describeError(error)}`, error);
        }
        throw error;
      }
      if (attempt >= attempts) {
        log.warn(`${opts.what} failed on the database connection`, { ...opts.context, error: describeError(error) });
        throw worldErrors.unavailable(`database unavailable during ${opts.what}: ${describeError(error)}`, error);
      }
      // jittered so that many callers cut off together do not come back in lockstep
      const delay = Math.min(FIRST_DELAY_MS * 2 ** (attempt - 1), MAX_DELAY_MS) * (0.5 + Math.random() / 2);
      // the first failure of a streak is worth a warning; a long outage would flood at that level
      (attempt === 1 ? log.warn : log.debug)(`${opts.what} failed; retrying`, {
        ...opts.context,
        attempt,
        retryInMs: Math.round(delay),
        error: describeError(error),
      });
      await sleep(delay, undefined, { signal: opts.signal });
    }
  }
}
