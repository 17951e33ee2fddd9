import { log } from '../log.js';

/**
 * A client-side deadline for statements the queue cannot afford to wait on forever.
 * postgres.js 3.4.9 can leave a query pending for good when its backend is terminated at the
 * wrong moment (e.g. while the connection is being re-established; porsager/postgres#1195,
 * #1199 describe the same family): a claim stuck that way would stall the worker. Past the
 * deadline the query is cancelled and abandoned, and the caller sees a transient error whose
 * retry is safe: claims are leased (an abandoned claim's messages come back when the lease
 * expires) and every write after a claim is fenced.
 */
export const DEADLINE_CODE = 'QUERY_DEADLINE';

/** Longer than any healthy queue statement on a loaded machine, short next to a lease. */
const QUEUE_STATEMENT_DEADLINE_MS = 15_000;

/** The deadline of a queue statement, for `query` / `callFunction` (statement.ts). */
export const queueDeadline = (what: string) => ({ ms: QUEUE_STATEMENT_DEADLINE_MS, what });

interface Cancellable<T> extends PromiseLike<T> {
  cancel(): unknown;
}

export async function withinDeadline<T>(query: Cancellable<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      log.warn('a statement passed its client-side deadline; cancelled and retried', { what, deadlineMs: ms });
      try {
        query.cancel();
      } catch {
        // the connection is gone: nothing to cancel
      }
      reject(Object.assign(new Error(`${what} did not answer within ${ms} ms`), { code: DEADLINE_CODE }));
    }, ms);
  });
  try {
    return await Promise.race([Promise.resolve(query), expired]);
  } finally {
    clearTimeout(timer);
  }
}
