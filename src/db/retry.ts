import { worldErrors } from '../errors.js';
import { describeError, log, type LogContext } from '../log.js';
import { errorCode, isSafeToRetry, isTransient } from './sqlstate.js';

/**
 * Runs a database call, retrying transient failures a few times with backoff when sending the
 * statement again is safe: always for reads (`idempotent`), and for writes only when the server
 * guarantees nothing was applied. A transient failure that remains becomes a 503
 * `WorkflowWorldError` (`code: 'TRANSPORT'`), which the runtime retries by redelivery; a data
 * exception (SQLSTATE class 22, e.g. U+0000 in a text field) becomes a 400.
 */
export async function withRetry<T>(
  what: string,
  context: LogContext,
  idempotent: boolean,
  fn: () => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt < 4 && isSafeToRetry(error, idempotent)) {
        await new Promise((resolve) => setTimeout(resolve, 25 * 2 ** attempt));
        continue;
      }
      if (isTransient(error)) {
        log.warn(`${what} failed on the database connection`, { ...context, error: describeError(error) });
        throw worldErrors.unavailable(`database unavailable during ${what}: ${describeError(error)}`, error);
      }
      if (errorCode(error)?.startsWith('22')) {
        throw worldErrors.badRequest(`invalid ${what} request: ${describeError(error)}`);
      }
      throw error;
    }
  }
}
