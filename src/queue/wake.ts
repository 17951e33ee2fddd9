import type { Db } from '../db/client.js';
import { query } from '../db/statement.js';
import { describeError, log } from '../log.js';

/**
 * NOTIFY wake-ups for the workers, sent after the change they announce has committed, and at most
 * one per `intervalMs` per World: a burst of enqueues (or retries) costs one notification, sent
 * at the end of the interval, instead of one each. That matters because PostgreSQL serialises
 * every committing transaction that has notified on one global lock, held across its WAL flush:
 * a NOTIFY inside each enqueue measured 3 to 8 times slower than plain inserts. A lost wake-up
 * only costs latency: the workers' poll finds the message anyway.
 */
export function createWaker(db: Db, channel: string, intervalMs = 10) {
  let lastSent = 0;
  let trailing: NodeJS.Timeout | undefined;

  async function send(): Promise<void> {
    lastSent = Date.now();
    try {
      await query(db, 'select pg_notify($1, $2)', [channel, '']);
    } catch (error) {
      log.debug('queue wake-up not sent; workers poll instead', { error: describeError(error) });
    }
  }

  function sendTrailing(): void {
    trailing = undefined;
    void send();
  }

  return {
    /**
     * Announces a change committed before this call. Resolves once the notification is sent when
     * none was sent within the interval (a single enqueue wakes the workers at once), otherwise
     * right away with one notification scheduled for the end of the interval.
     */
    wake(): Promise<void> {
      const wait = lastSent + intervalMs - Date.now();
      if (wait <= 0 && !trailing) return send();
      if (!trailing) {
        trailing = setTimeout(sendTrailing, Math.max(0, wait));
        trailing.unref();
      }
      return Promise.resolve();
    },
    /** Sends a scheduled notification now (before the pool closes). */
    async flush(): Promise<void> {
      if (!trailing) return;
      clearTimeout(trailing);
      trailing = undefined;
      await send();
    },
  };
}

export type Waker = ReturnType<typeof createWaker>;
