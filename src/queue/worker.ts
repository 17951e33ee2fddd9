import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Db } from '../db/client.js';
import { subscribe, type Subscription } from '../db/listener.js';
import { withRetry } from '../db/retry.js';
import { describeError, log, type LogContext } from '../log.js';
import { claimMessages, nextDueMs, type ClaimedMessage } from './claim.js';
import { deliverableKinds, deliver } from './delivery.js';
import { finishDelivery, renewLeases, type FinishOutcome } from './lease.js';
import type { QueueMetrics } from './metrics.js';
import { onRegister } from './registry.js';
import { backoffMs, errorText, timeoutSecondsOf } from './retry.js';
import type { Waker } from './wake.js';

/**
 * The consumer of one started World: at most `queueConcurrency` deliveries in flight, and it
 * claims only as many messages as it has free slots, so nothing waits in memory. It claims when
 * woken by a NOTIFY (enqueue, retry, release, a run lease freed), by a handler registering, when
 * a delivery finishes, at the due time of the earliest delayed message, and at least every
 * `queuePollMs` (lost notifications, expired leases). While deliveries run, one heartbeat
 * statement extends all their leases every lease/3.
 */
interface Delivery {
  message: ClaimedMessage;
  abort: AbortController;
  /** Handed back at shutdown: its result, if any, is no longer recorded. */
  released: boolean;
  /** Its result is being recorded: a heartbeat that misses the row is not a lost lease. */
  finishing: boolean;
  /** The heartbeat found the lease taken over. */
  lost: boolean;
  settled: Promise<void>;
}

const METRIC: Record<FinishOutcome, keyof QueueMetrics | undefined> = {
  done: 'delivered',
  reschedule: 'rescheduled',
  retry: 'retried',
  dead: 'deadLettered',
  release: undefined,
};

export function createWorker({ db, channel, waker, metrics }: { db: Db; channel: string; waker: Waker; metrics: QueueMetrics }) {
  const config = db.config;
  const owner = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const inflight = new Map<string, Delivery>();
  let stopping = false;
  let pumping: Promise<void> | undefined;
  let again = false;
  let wakeQueued = false;
  let pollTimer: NodeJS.Timeout | undefined;
  let heartbeatTimer: NodeJS.Timeout | undefined;
  let heartbeating = false;
  let claimFailures = 0;
  let announcedIdle = false;
  let subscription: Subscription | undefined;
  let unregister: (() => void) | undefined;

  function start(): void {
    subscription = subscribe(config, channel, wake, wake);
    unregister = onRegister(wake);
    wake();
  }

  /** Runs a claim round now, or right after the one in progress. Never throws. */
  function wake(): void {
    if (stopping) return;
    if (pumping) {
      again = true;
      return;
    }
    pumping = (async () => {
      do {
        again = false;
        await claimRound();
      } while (again && !stopping);
    })().finally(() => {
      pumping = undefined;
      if (again) wake();
    });
  }

  /**
   * A wake-up for a freed slot, deferred to the end of this turn of the event loop: the
   * deliveries that finish together then refill their slots with one claim instead of one each.
   */
  function wakeSoon(): void {
    if (wakeQueued) return;
    wakeQueued = true;
    setImmediate(() => {
      wakeQueued = false;
      wake();
    });
  }

  async function claimRound(): Promise<void> {
    clearTimeout(pollTimer);
    let sleepMs = config.queuePollMs;
    try {
      const kinds = deliverableKinds(config);
      if (kinds.length === 0) {
        announceIdle();
      } else {
        let drained = false;
        while (!stopping) {
          const free = config.queueConcurrency - inflight.size;
          if (free <= 0) break;
          const claimed = await claimMessages(db, { limit: free, owner, leaseMs: config.queueLeaseMs, kinds });
          if (stopping) {
            await Promise.allSettled(claimed.map((m) => record(m, 'release')));
            return;
          }
          claimed.forEach(dispatch);
          if (claimed.length < free) {
            drained = true;
            break;
          }
        }
        if (drained) {
          const due = await nextDueMs(db, kinds);
          if (due !== undefined) sleepMs = Math.min(sleepMs, due);
        }
      }
      claimFailures = 0;
    } catch (error) {
      claimFailures++;
      sleepMs = Math.min(config.queuePollMs, 50 * 2 ** claimFailures);
      log.warn('queue claim failed; retrying', { error: describeError(error), retryInMs: sleepMs });
    }
    if (!stopping) pollTimer = setTimeout(wake, sleepMs);
  }

  function announceIdle(): void {
    if (announcedIdle) return;
    announcedIdle = true;
    log.info(
      'queue worker waiting: no queue handler is registered in this process yet and WORKFLOW_POSTGRES_QUEUE_SECRET ' +
        'is not set for HTTP delivery; messages are consumed once a workflow route has loaded here',
    );
  }

  function dispatch(message: ClaimedMessage): void {
    const delivery: Delivery = {
      message,
      abort: new AbortController(),
      released: false,
      finishing: false,
      lost: false,
      settled: Promise.resolve(),
    };
    inflight.set(message.id, delivery);
    metrics.inFlight = inflight.size;
    heartbeatTimer ??= setInterval(() => void heartbeat(), Math.max(50, Math.floor(config.queueLeaseMs / 3)));
    delivery.settled = run(delivery)
      .catch((error) => log.error('queue delivery crashed', { ...context(message), error: describeError(error) }))
      .finally(() => {
        inflight.delete(message.id);
        metrics.inFlight = inflight.size;
        if (inflight.size === 0) {
          clearInterval(heartbeatTimer);
          heartbeatTimer = undefined;
        }
        wakeSoon();
      });
  }

  async function run(d: Delivery): Promise<void> {
    const { message } = d;
    if (message.attempt > config.queueMaxAttempts) {
      // its earlier deliveries all ended with an expired lease (the worker died or stalled)
      log.error('message dead-lettered: its last attempt never finished', context(message));
      return finish(d, 'dead');
    }
    let result: unknown;
    try {
      result = await deliver(message, config, d.abort.signal);
    } catch (error) {
      if (d.released) return;
      if (message.attempt >= config.queueMaxAttempts) {
        log.error('message dead-lettered after its last attempt', { ...context(message), error: describeError(error) });
        return finish(d, 'dead', { error: errorText(error) });
      }
      const delayMs = backoffMs(message.attempt, config.queueRetryBaseMs, config.queueRetryMaxMs);
      log.warn('queue delivery failed; retrying', { ...context(message), retryInMs: delayMs, error: describeError(error) });
      return finish(d, 'retry', { delayMs, error: errorText(error) });
    }
    if (d.released) return;
    const timeoutSeconds = timeoutSecondsOf(result);
    if (timeoutSeconds === undefined) return finish(d, 'done');
    return finish(d, 'reschedule', { delayMs: timeoutSeconds * 1000 });
  }

  async function finish(d: Delivery, outcome: FinishOutcome, opts: { delayMs?: number; error?: string } = {}) {
    d.finishing = true;
    const { ok, retried } = await record(d.message, outcome, opts);
    if (ok) {
      const metric = METRIC[outcome];
      if (metric) metrics[metric]++;
    } else if (!retried && !d.lost && !d.released) {
      // (after a retried statement a miss most likely means the first try was applied)
      metrics.leaseLost++;
      log.warn('lease lost before the delivery finished; its result was not recorded', context(d.message));
    }
  }

  /**
   * Records an outcome, retrying across dropped connections (fenced, so a repeat of an applied
   * write changes nothing). `retried` says whether an earlier try may have been applied. Never throws.
   */
  async function record(message: ClaimedMessage, outcome: FinishOutcome, opts: { delayMs?: number; error?: string } = {}) {
    let tries = 0;
    try {
      const result = await withRetry(
        () => {
          tries++;
          return finishDelivery(db, message, outcome, opts);
        },
        { what: `recording a delivery (${outcome})`, context: context(message), attempts: 10 },
      );
      if (result === 'wake') void waker.wake();
      return { ok: result !== 'lost', retried: tries > 1 };
    } catch (error) {
      log.error('could not record a delivery result; the message is redelivered when its lease expires', {
        ...context(message),
        outcome,
        error: describeError(error),
      });
      return { ok: false, retried: true };
    }
  }

  async function heartbeat(): Promise<void> {
    if (heartbeating) return;
    heartbeating = true;
    try {
      const held = [...inflight.values()].filter((d) => !d.lost && !d.released && !d.finishing);
      const { lost, runLeaseLost } = await renewLeases(db, held.map((d) => d.message), config.queueLeaseMs);
      for (const id of lost) {
        const d = inflight.get(id);
        if (!d || d.finishing || d.released) continue;
        d.lost = true;
        metrics.leaseLost++;
        log.warn('lease lost while the handler runs; another worker may deliver the message again', context(d.message));
      }
      for (const id of runLeaseLost) {
        const d = inflight.get(id);
        if (d) log.warn('run lease taken over while its flow runs', context(d.message));
      }
    } catch (error) {
      log.warn('lease heartbeat failed; retrying at the next beat', { inFlight: inflight.size, error: describeError(error) });
    } finally {
      heartbeating = false;
    }
  }

  /**
   * Stops claiming, lets running deliveries finish for up to `shutdownTimeoutMs`, then hands the
   * rest back (pending, due now, attempt not counted) so another worker takes them at once.
   */
  async function stop(): Promise<void> {
    stopping = true;
    clearTimeout(pollTimer);
    subscription?.unsubscribe();
    unregister?.();
    // Every wait below shares one deadline: shutdown is bounded even when a statement hangs on
    // a connection that was cut (the pool is ended right after, which fails what is left).
    const deadline = Date.now() + config.shutdownTimeoutMs;
    if (!(await settledBy(pumping, deadline))) log.warn('a claim round was still running at the shutdown deadline');
    await settledBy(Promise.allSettled([...inflight.values()].map((d) => d.settled)), deadline);
    const recording = [...inflight.values()].filter((d) => d.finishing);
    const unfinished = [...inflight.values()].filter((d) => !d.finishing);
    for (const d of unfinished) {
      d.released = true;
      d.abort.abort();
    }
    const released = Promise.allSettled([
      ...unfinished.map((d) => record(d.message, 'release')),
      ...recording.map((d) => d.settled),
    ]);
    if (!(await settledBy(released, Math.max(deadline, Date.now() + RELEASE_GRACE_MS)))) {
      log.warn('shutdown deadline passed before every lease was released; they expire on their own', {
        count: unfinished.length,
      });
    } else if (unfinished.length > 0) {
      log.info('released unfinished deliveries at shutdown', { count: unfinished.length });
    }
    clearInterval(heartbeatTimer);
    heartbeatTimer = undefined;
  }

  return { start, stop };
}

function context(message: ClaimedMessage): LogContext {
  return { messageId: message.id, runId: message.runId ?? undefined, queue: message.queueName, attempt: message.attempt };
}

/** Releasing leases gets this long even when the drain used up the shutdown deadline. */
const RELEASE_GRACE_MS = 2_000;

/** Waits for `promise` to settle or for `deadline` (epoch ms); true when it settled in time. */
async function settledBy(promise: Promise<unknown> | undefined, deadline: number): Promise<boolean> {
  if (!promise) return true;
  let timer: NodeJS.Timeout | undefined;
  const settled = promise.then(
    () => true,
    () => true,
  );
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([settled, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
