import type { Db } from '../db/client.js';
import type { NewMessage } from './enqueue.js';

/**
 * The outbox of one in-process delivery. What a handler sends to its own run (a step's
 * continuation of the workflow, a workflow's step messages) is held here and enqueued by the
 * statement that records the delivery's result (complete_delivery), which also claims the
 * worker's next messages: per message that saves an insert, a wake-up and a claim round trip.
 *
 * The trade: `queue()` resolves before such a message is durable. It becomes durable with the
 * delivery's result, before anything records the delivery as done; if the process dies first,
 * the delivery is redelivered and its handler sends again (at-least-once, as always). Messages
 * for other runs (a step starting a child run) are enqueued at once, so a handler never waits on
 * something it holds; and a handler still running `EAGER_FLUSH_MS` after its first send (one that
 * resumed its own run's hook and keeps working) has its outbox enqueued right away.
 */
export interface SentMessage {
  id: string;
  message: NewMessage;
}

const EAGER_FLUSH_MS = 50;

export class Outbox {
  private sent: SentMessage[] = [];
  private open = true;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(
    readonly db: Db,
    readonly runId: string | null,
    /** Enqueues messages now (the handler outlived EAGER_FLUSH_MS); throws when it could not. */
    private readonly enqueueNow: (sent: SentMessage[]) => Promise<void>,
    private readonly eagerFlushMs = EAGER_FLUSH_MS,
  ) {}

  /** Holds `message` when it belongs to this delivery's run and database; false otherwise. */
  offer(db: Db, id: string, message: NewMessage): boolean {
    if (!this.open || message.runId === null || message.runId !== this.runId) return false;
    if (db.sql !== this.db.sql || db.schema !== this.db.schema) return false;
    this.sent.push({ id, message });
    this.timer ??= setTimeout(() => this.flushEarly(), this.eagerFlushMs);
    return true;
  }

  /** Ends the delivery's sending: later sends are enqueued at once. Returns what is still held. */
  async close(): Promise<SentMessage[]> {
    this.open = false;
    clearTimeout(this.timer);
    await this.flushing;
    return this.sent;
  }

  private flushEarly(): void {
    this.timer = undefined;
    const batch = this.sent;
    this.sent = [];
    this.flushing = this.enqueueNow(batch).catch(() => {
      // held again: the result's statement enqueues them (ids make a repeat a no-op)
      this.sent.unshift(...batch);
    });
  }
}
