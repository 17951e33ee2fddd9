import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Db } from '../db/client.js';
import { subscribe, type Subscription } from '../db/listener.js';
import { withRetry } from '../db/transient-retry.js';
import { describeError, log, type LogContext } from '../log.js';
import { PRELOAD_MAX_EVENTS, withPreloadedRunStart } from '../shared/run-start.js';
import { settledBy } from '../shared/settled-by.js';
import { traceDelivery, type DeliveryTrace } from '../telemetry.js';
import { backoffMs, errorText, timeoutSecondsOf } from './backoff.js';
import { claimMessages, nextDueMs, type ClaimedMessage } from './claim.js';
import { createClaimLoop } from './claim-loop.js';
import { completeDelivery, type FinishOutcome } from './complete.js';
import { withOutbox } from './delivery-scope.js';
import { deliverableKinds, dispatch } from './dispatch.js';
import { enqueueMessage } from './enqueue.js';
import { getHandler, onRegister } from './handlers.js';
import { createHeartbeat, renewLeases } from './heartbeat.js';
import type { QueueMetrics } from './metrics.js';
import { Outbox, type SentMessage } from './outbox.js';

import { Slots } from './slots.js';
import type { Waker } from './wake.js';

/**
 * The consumer of one started World. A message it claims (claim.ts) is dispatched to its handler
 * (dispatch.ts), its lease extended by the heartbeat while the handler runs (heartbeat.ts), and
 * its outcome recorded with what the handler sent (complete.ts) — or backed off (backoff.ts),
 * or handed back at shutdown. At most `queueConcurrency` deliveries are in flight (slots.ts),
 * and the worker claims only as many messages as it has free slots, so nothing waits in memory.
 * A finishing delivery refills its slot (and any other free one) in the statement that records
 * its result; beyond that the worker claims (claim-loop.ts) when woken by a NOTIFY (enqueue,
 * retry, release, a run lease freed), by a handler registering, at the due time of the earliest
 * delayed message, and at least every `queuePollMs` (lost notifications, expired leases).
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
  /** The delivery's span and metrics, when an OpenTelemetry SDK is registered. */
  trace: DeliveryTrace | undefined;
}

const METRIC: Record<FinishOutcome, keyof QueueMetrics | undefined> = {
  done: 'delivered',
  reschedule: 'rescheduled',
  retry: 'retried',
  dead: 'deadLettered',
  release: undefined,
};

interface Recorded {
  /** The outcome was recorded (false: the lease was lost, or the statement kept failing). */
  ok: boolean;
  /** An earlier try may have been applied. */
  retried: boolean;
  claimed: ClaimedMessage[];
  /** The claim limit of the try that was applied (0 when no claim ran). */
  claimedWith: number;
}

export function createWorker({ db, channel, waker, metrics }: { db: Db; channel: string; waker: Waker; metrics: QueueMetrics }) {
  const config = db.config;
  const owner = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const heartbeat = createHeartbeat({
    intervalMs: Math.max(50, Math.floor(config.queueLeaseMs / 3)),
    held: () => slots.deliveries().filter((d) => !d.lost && !d.released && !d.finishing).map((d) => d.message),
    renew: (leases) => renewLeases(db, leases, config.queueLeaseMs),
    onLost: (id) => {
      const d = slots.get(id);
      if (!d || d.finishing || d.released) return;
      d.lost = true;
      metrics.leaseLost++;
      log.warn('lease lost while the handler runs; another worker may deliver the message again', context(d.message));
    },
    onRunLeaseLost: (id) => {
      const d = slots.get(id);
      if (d) log.warn('run lease taken over while its flow runs', context(d.message));
    },
  });
  const slots = new Slots<Delivery>(config.queueConcurrency, (inFlight) => {
    metrics.inFlight = inFlight;
    if (inFlight === 0) heartbeat.stop();
    else heartbeat.start();
  });
  const loop = createClaimLoop(claimRound);
  let stopping = false;
  let lastClaimAt: Date | null = null;
  let claimFailures = 0;
  let announcedIdle = false;
  let subscription: Subscription | undefined;
  let unregister: (() => void) | undefined;

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
    subscription = subscribe(config, channel, loop.wake, loop.wake);
    unregister = onRegister(loop.wake);
    loop.wake();
  }

  /** Claims for every free slot; returns how long to sleep before the next unprompted round. Never throws. */
  async function claimRound(): Promise<number> {
    let sleepMs = config.queuePollMs;
    try {
      const kinds = deliverableKinds(config);
      if (kinds.length === 0) {
        announceIdle();
      } else {
        let drained = false;
        while (!stopping) {
          const free = slots.free();
          if (free <= 0) break;
          const unreserve = slots.reserve(free);
          let claimed: ClaimedMessage[];
          try {
            claimed = await claimMessages(db, { ...claimOptions(free), kinds });
            lastClaimAt = new Date();
          } finally {
            unreserve();
          }
          if (stopping) {
            await releaseAll(claimed);
            return sleepMs;
          }
          claimed.forEach(begin);
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
    return sleepMs;
  }

  function announceIdle(): void {
    if (announcedIdle) return;
    announcedIdle = true;
    log.info(
      'queue worker waiting: no queue handler is registered in this process yet and WORKFLOW_POSTGRES_QUEUE_SECRET ' +
        'is not set for HTTP delivery; messages are consumed once a workflow route has loaded here',
    );
  }

  /** Takes a slot for `message` and runs its delivery. */
  function begin(message: ClaimedMessage): void {
    const delivery: Delivery = {
      message,
      outbox: new Outbox(db, message.runId, enqueueNow),
      abort: new AbortController(),
      released: false,
      finishing: false,
      lost: false,
      settled: Promise.resolve(),
      trace: traceDelivery(message, { 'messaging.system': 'workflow-world-postgres', 'db.namespace': db.schema }),
    };
    slots.occupy(message.id, delivery);
    delivery.settled = run(delivery)
      .catch((error) => {
        log.error('queue delivery crashed', { ...context(message), error: describeError(error) });
        return false;
      })
      .then((refilled) => {
        slots.vacate(message.id);
        // a slot that its delivery's result did not refill is refilled by a claim round
        if (!refilled) loop.wakeSoon();
      });
  }

  /** Runs the delivery and records its result; true when recording it also claimed for the free slots. */
  async function run(d: Delivery): Promise<boolean> {
    const { message } = d;
    if (message.attempt > config.queueMaxAttempts) {
      // its earlier deliveries all ended with an expired lease (the worker died or stalled)
      log.warn('message dead-lettered: its last attempt never finished', context(message));
      d.trace?.end('dead');
      return finish(d, 'dead');
    }
    let result: unknown;
    try {
      const preload = message.runStart && message.runId ? { db, runId: message.runId, runStart: message.runStart } : undefined;
      message.runStart = undefined; // held by the scope until the handler's run_started takes it
      const handle = () => withPreloadedRunStart(preload, () => withOutbox(d.outbox, () => dispatch(message, config, d.abort.signal)));
      result = await (d.trace ? d.trace.run(handle) : handle());
    } catch (error) {
      if (d.released) {
        d.trace?.end('release', error);
        return false;
      }
      if (message.attempt >= config.queueMaxAttempts) {
        log.warn('message dead-lettered after its last attempt', { ...context(message), error: describeError(error) });
        d.trace?.end('dead', error);
        return finish(d, 'dead', { error: errorText(error) });
      }
      const delayMs = backoffMs(message.attempt, config.queueRetryBaseMs, config.queueRetryMaxMs);
      log.warn('queue delivery failed; retrying', { ...context(message), retryInMs: delayMs, error: describeError(error) });
      d.trace?.end('retry', error);
      return finish(d, 'retry', { delayMs, error: errorText(error) });
    }
    if (d.released) {
      d.trace?.end('release');
      return false;
    }
    const timeoutSeconds = timeoutSecondsOf(result);
    d.trace?.end(timeoutSeconds === undefined ? 'done' : 'reschedule');
    if (timeoutSeconds === undefined) return finish(d, 'done');
    return finish(d, 'reschedule', { delayMs: timeoutSeconds * 1000 });
  }

  async function finish(d: Delivery, outcome: FinishOutcome, opts: { delayMs?: number; error?: string } = {}): Promise<boolean> {
    d.finishing = true;
    const sent = await d.outbox.close();
    // this delivery's own slot, and any other free one
    const extra = stopping ? 0 : slots.free();
    const unreserve = slots.reserve(extra);
    let recorded: Recorded;
    try {
      recorded = await record(d.message, outcome, { ...opts, sent, claimLimit: stopping ? 0 : extra + 1 });
    } finally {
      unreserve();
    }
    const { ok, retried, claimed, claimedWith } = recorded;
    if (claimed.length > 0) {
      slots.vacate(d.message.id);
      if (stopping) await releaseAll(claimed);
      else claimed.forEach(begin);
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
   * Records an outcome with what the handler sent, and claims up to `claimLimit` messages,
   * retrying across dropped connections (fenced, so a repeat of an applied write changes nothing;
   * a repeat claims nothing, as the first try may have claimed). Never throws.
   */
  async function record(
    message: ClaimedMessage,
    outcome: FinishOutcome,
    opts: { delayMs?: number; error?: string; sent?: SentMessage[]; claimLimit?: number } = {},
  ): Promise<Recorded> {
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
      if (claimLimit > 0) lastClaimAt = new Date();
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

  /**
   * Stops claiming, lets running deliveries finish for up to `shutdownTimeoutMs`, then hands the
   * rest back (pending, due now, attempt not counted) so another worker takes them at once.
   */
  async function stop(): Promise<void> {
    stopping = true;
    const round = loop.stop();
    subscription?.unsubscribe();
    unregister?.();
    const deadline = Date.now() + config.shutdownTimeoutMs;
    if (!(await settledBy(round, deadline))) log.warn('a claim round was still running at the shutdown deadline');
    await settledBy(Promise.allSettled(slots.deliveries().map((d) => d.settled)), deadline);
    const recording = slots.deliveries().filter((d) => d.finishing);
    const unfinished = slots.deliveries().filter((d) => !d.finishing);
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
    heartbeat.stop();
  }

  /** For health(): what the worker is doing. */
  function state(): WorkerState {
    return {
      status: stopping ? 'stopping' : 'running',
      inFlight: slots.inFlight,
      concurrency: config.queueConcurrency,
      lastClaimAt,
    };
  }

  return { start, stop, state };
}

export interface WorkerState {
  /** 'not_started': no started World here; 'enqueue_only': started with queueConcurrency 0. */
  status: 'running' | 'stopping' | 'stopped' | 'not_started' | 'enqueue_only';
  inFlight: number;
  concurrency: number;
  /** The last claim that answered (whether or not it found messages). */
  lastClaimAt: Date | null;
}

/** Releasing leases gets this long even when the drain used up the shutdown deadline. */
const RELEASE_GRACE_MS = 2_000;

function context(message: ClaimedMessage): LogContext {
  return { messageId: message.id, runId: message.runId ?? undefined, queue: message.queueName, attempt: message.attempt };
}
