import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Db } from '../db/client.js';
import { subscribe, type Subscription } from '../db/listener.js';
import { withRetry } from '../db/retry.js';
import { describeError, log, type LogContext } from '../log.js';
import { PRELOAD_MAX_EVENTS } from '../storage/append.js';
import { claimMessages, nextDueMs, type ClaimedMessage } from './claim.js';
import { deliverableKinds, deliver } from './delivery.js';
import { enqueueMessage } from './enqueue.js';
import { completeDelivery, renewLeases, type FinishOutcome } from './lease.js';
import type { QueueMetrics } from './metrics.js';
import { Outbox, type SentMessage } from './outbox.js';
import { getHandler, onRegister } from './registry.js';
import { withDeliveryScope } from './scope.js';
import { backoffMs, errorText, timeoutSecondsOf } from './retry.js';
import type { Waker } from './wake.js';

/**
 * The consumer of one started World: at most `queueConcurrency` deliveries in flight, and it
 * claims only as many messages as it has free slots, so nothing waits in memory. A finishing
 * delivery refills its slot (and any other free one) in the statement that records its result;
 * beyond that the worker claims when woken by a NOTIFY (enqueue, retry, release, a run lease
 * freed), by a handler registering, at the due time of the earliest delayed message, and at
 * least every `queuePollMs` (lost notifications, expired leases). While deliveries run, one
 * heartbeat statement extends all their leases every lease/3.
 */
interface Delivery {
  message: ClaimedMessage;
  /** What the handler sent to its own run, enqueued with the result. */
  outbox: Outbox;
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
  /** Slots promised to a claim in progress. */
  let reserved = 0;
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

  const freeSlots = () => Math.max(0, config.queueConcurrency - inflight.size - reserved);
  const claimOptions = (limit: number) => ({
    limit,
    owner,
    leaseMs: config.queueLeaseMs,
    kinds: deliverableKinds(config),
    // the run's log is read with a workflow message only for an in-process handler to replay
    maxEvents: getHandler('workflow') ? PRELOAD_MAX_EVENTS : 0,
  });
  const enqueueNow = async (sent: SentMessage[]) => {
    for (const { id, message } of sent) await enqueueMessage(db, waker, id, message);
  };

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
          const free = freeSlots();
          if (free <= 0) break;
          reserved += free;
          let claimed: ClaimedMessage[];
          try {
            claimed = await claimMessages(db, { ...claimOptions(free), kinds });
          } finally {
            reserved -= free;
          }
          if (stopping) {
            await releaseAll(claimed);
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
      outbox: new Outbox(db, message.runId, enqueueNow),
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
      .catch((error) => {
        log.error('queue delivery crashed', { ...context(message), error: describeError(error) });
        return false;
      })
      .then((refilled) => {
        vacate(message.id);
        // a slot that its delivery's result did not refill is refilled by a claim round
        if (!refilled) wakeSoon();
      });
  }

  function vacate(id: string): void {
    inflight.delete(id);
    metrics.inFlight = inflight.size;
    if (inflight.size === 0) {
      clearInterval(heartbeatTimer);
      heartbeatTimer = undefined;
    }
  }

  /** Runs the delivery and records its result; true when recording it also claimed for the free slots. */
  async function run(d: Delivery): Promise<boolean> {
    const { message } = d;
    if (message.attempt > config.queueMaxAttempts) {
      // its earlier deliveries all ended with an expired lease (the worker died or stalled)
      log.error('message dead-lettered: its last attempt never finished', context(message));
      return finish(d, 'dead');
    }
    let result: unknown;
    try {
      const runStart = message.runStart && message.runId ? { db, runId: message.runId, rows: message.runStart } : undefined;
      message.runStart = undefined; // held by the scope until the handler's run_started takes it
      result = await withDeliveryScope({ outbox: d.outbox, runStart }, () => deliver(message, config, d.abort.signal));
    } catch (error) {
      if (d.released) return false;
      if (message.attempt >= config.queueMaxAttempts) {
        log.error('message dead-lettered after its last attempt', { ...context(message), error: describeError(error) });
        return finish(d, 'dead', { error: errorText(error) });
      }
      const delayMs = backoffMs(message.attempt, config.queueRetryBaseMs, config.queueRetryMaxMs);
      log.warn('queue delivery failed; retrying', { ...context(message), retryInMs: delayMs, error: describeError(error) });
      return finish(d, 'retry', { delayMs, error: errorText(error) });
    }
    if (d.released) return false;
    const timeoutSeconds = timeoutSecondsOf(result);
    if (timeoutSeconds === undefined) return finish(d, 'done');
    return finish(d, 'reschedule', { delayMs: timeoutSeconds * 1000 });
  }

  async function finish(d: Delivery, outcome: FinishOutcome, opts: { delayMs?: number; error?: string } = {}): Promise<boolean> {
    d.finishing = true;
    const sent = await d.outbox.close();
    // this delivery's own slot, and any other free one
    const extra = stopping ? 0 : freeSlots();
    const limit = stopping ? 0 : extra + 1;
    reserved += extra;
    let outcomeOf: Awaited<ReturnType<typeof record>>;
    try {
      outcomeOf = await record(d.message, outcome, { ...opts, sent, claimLimit: limit });
    } finally {
      reserved -= extra;
    }
    const { ok, retried, claimed, claimedWith } = outcomeOf;
    if (claimed.length > 0) {
      vacate(d.message.id);
      if (stopping) await releaseAll(claimed);
      else claimed.forEach(dispatch);
    }
    if (ok) {
      const metric = METRIC[outcome];
      if (metric) metrics[metric]++;
    } else if (!retried && !d.lost && !d.released) {
      // (after a retried statement a miss most likely means the first try was applied)
      metrics.leaseLost++;
      log.warn('lease lost before the delivery finished; its result was not recorded', context(d.message));
    }
    return claimedWith > 0;
  }

  async function releaseAll(messages: ClaimedMessage[]): Promise<void> {
    await Promise.allSettled(messages.map((m) => record(m, 'release')));
  }

  /**
   * Records an outcome with what the handler sent, and claims up to `claimLimit` messages
   * (`claimedWith`: the limit the applied try claimed with, 0 when no claim ran),
   * retrying across dropped connections (fenced, so a repeat of an applied write changes nothing;
   * a repeat claims nothing, as the first try may have claimed). `retried` says whether an earlier
   * try may have been applied. Never throws.
   */
  async function record(
    message: ClaimedMessage,
    outcome: FinishOutcome,
    opts: { delayMs?: number; error?: string; sent?: SentMessage[]; claimLimit?: number } = {},
  ): Promise<{ ok: boolean; retried: boolean; claimed: ClaimedMessage[]; claimedWith: number }> {
    let tries = 0;
    let claimLimit = 0;
    try {
      const { finished, claimed } = await withRetry(
        () => {
          tries++;
          claimLimit = tries > 1 ? 0 : (opts.claimLimit ?? 0);
          return completeDelivery(db, message, outcome, { ...opts, claim: claimOptions(claimLimit) });
        },
        { what: `recording a delivery (${outcome})`, context: context(message), attempts: 10 },
      );
      if (finished === 'wake') void waker.wake();
      return { ok: finished !== 'lost', retried: tries > 1, claimed, claimedWith: claimLimit };
    } catch (error) {
      log.error('could not record a delivery result; the message is redelivered when its lease expires', {
        ...context(message),
        outcome,
        error: describeError(error),
      });
      return { ok: false, retried: true, claimed: [], claimedWith: 0 };
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
      ...unfinished.map(async (d) => record(d.message, 'release', { sent: await d.outbox.close() })),
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
