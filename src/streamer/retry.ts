import { setTimeout as sleep } from 'node:timers/promises';
import { errorCode, isTransient } from '../db/sqlstate.js';
import { worldErrors } from '../errors.js';
import { describeError, log } from '../log.js';

/**
 * Runs one streamer statement, retrying transient failures (connection loss, admin shutdown,
 * serialization failures…) with capped exponential backoff. Every statement of the streamer
 * may be sent twice: reads trivially, and writes because append_stream_chunks recognises a
 * write it already stored by its first chunk id. Log lines name the stream, never its data.
 */
export interface RetryOptions {
  stream: string;
  /** What was being done, for messages: 'writing', 'reading'… */
  action: string;
  /** Attempts before giving up with a 503; live readers pass Infinity. */
  attempts?: number;
  /** Aborts the backoff sleep (a cancelled reader stops retrying at once). */
  signal?: AbortSignal;
}

const FIRST_DELAY_MS = 50;
const MAX_DELAY_MS = 5_000;

export async function retryTransient<T>(op: () => Promise<T>, opts: RetryOptions): Promise<T> {
  const attempts = opts.attempts ?? 4;
  for (let attempt = 1; ; attempt++) {
    opts.signal?.throwIfAborted();
    try {
      return await op();
    } catch (error) {
      if (errorCode(error)?.startsWith('22')) {
        // data exceptions, e.g. U+0000 in a stream name: the request is at fault, not the database
        throw worldErrors.badRequest(`invalid stream request: ${describeError(error)}`);
      }
      if (!isTransient(error)) throw error;
      if (attempt >= attempts) {
        throw worldErrors.unavailable(
          `database unavailable while ${opts.action} stream ${opts.stream}: ${describeError(error)}`,
          error,
        );
      }
      // jittered so that many readers cut off together do not come back in lockstep
      const delay = Math.min(FIRST_DELAY_MS * 2 ** (attempt - 1), MAX_DELAY_MS) * (0.5 + Math.random() / 2);
      // the first failure of a streak is worth a warning; a long outage would flood at that level
      (attempt === 1 ? log.warn : log.debug)('stream statement failed; retrying', {
        stream: opts.stream,
        action: opts.action,
        attempt,
        retryInMs: Math.round(delay),
        error: describeError(error),
      });
      await sleep(delay, undefined, { signal: opts.signal });
    }
  }
}
