import type { Queue } from '@workflow/world';
import { getQueuePrefixKind } from '@workflow/world';
import type { Db } from '../db/client.js';
import { channelName } from '../db/listener.js';
import { newMessageId } from '../ids.js';
import type { WorldState } from '../shared/world-state.js';
import { traceSend } from '../telemetry.js';
import { currentOutbox } from './delivery-scope.js';
import { enqueueMessage, prepareMessage } from './enqueue.js';
import { registerHandler } from './handlers.js';
import { createRequestHandler } from './http-route.js';
import { createMetrics, type QueueMetrics } from './metrics.js';
import { createReconciler } from './recovery.js';
import { createWaker, type Waker } from './wake.js';
import { createWorker, type WorkerState } from './worker.js';

export type { QueueMetrics } from './metrics.js';
export type { WorkerState } from './worker.js';

/**
 * The World's queue: `queue()` persists a message in PostgreSQL; `createQueueHandler()`
 * registers the runtime's handler process-wide and returns the signed HTTP route; `start()`
 * (only on a started World with `queueConcurrency > 0`) runs the worker and reconciliation;
 * `stop()` drains and releases. Nothing here needs `this` (docs/world-contract.md §1.3).
 */
export function createQueue(state: WorldState): Queue & {
  start(): Promise<void>;
  stop(): Promise<void>;
  queueMetrics(): QueueMetrics;
  workerState(): WorkerState;
} {
  const metrics = createMetrics();
  const channel = () => channelName(state.getConfig().schema, 'queue');
  let starting: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;
  let components: { stop(): Promise<void> }[] = [];
  let worker: ReturnType<typeof createWorker> | undefined;
  let enqueueOnly = false;
  let stopped = false;
  let waker: Waker | undefined;
  const getWaker = (db: Db): Waker => (waker ??= createWaker(db, channel()));
  const messagingAttributes = () => ({ 'messaging.system': 'workflow-world-postgres', 'db.namespace': state.getConfig().schema });

  const queue: Queue['queue'] = async (queueName, message, opts) => {
    const prepared = prepareMessage(queueName, message, opts); // a bad request fails before any span
    const messageId = await traceSend(queueName, prepared.kind, prepared.headers ?? undefined, messagingAttributes, async (headers) => {
      const sent = { ...prepared, headers: headers ?? null }; // with the trace context, when injected
      const db = await state.getDb();
      const id = newMessageId();
      // sent by a handler to its own run: enqueued with the delivery's result (outbox.ts)
      const held = currentOutbox()?.offer(db, id, sent) ?? false;
      return held ? id : enqueueMessage(db, getWaker(db), id, sent);
    });
    return { messageId: messageId as Awaited<ReturnType<Queue['queue']>>['messageId'] };
  };

  const createQueueHandler: Queue['createQueueHandler'] = (prefix, handler) => {
    try {
      registerHandler(getQueuePrefixKind(prefix), handler);
    } catch {
      // an invalid prefix: the returned route answers 500 saying so (no throw at build time)
    }
    return createRequestHandler(prefix, handler, () => state.getConfig().queueSecret);
  };

  const start = (): Promise<void> => {
    starting ??= (async () => {
      const db = await state.getDb();
      if (stopping) return;
      if (db.config.queueConcurrency === 0) {
        enqueueOnly = true; // an enqueue-only process
        return;
      }
      worker = createWorker({ db, channel: channel(), waker: getWaker(db), metrics });
      components.push(worker);
      worker.start();
      if (db.config.queueReconcileIntervalMs > 0) {
        const reconciler = createReconciler({ db, waker: getWaker(db), metrics });
        components.push(reconciler);
        reconciler.start();
      }
    })();
    return starting;
  };

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await starting?.catch(() => {});
      await Promise.allSettled(components.map((c) => c.stop()));
      components = [];
      await waker?.flush();
      stopped = true;
    })();
    return stopping;
  };

  const workerState = (): WorkerState => {
    const concurrency = worker?.state().concurrency ?? 0;
    if (stopped) return { status: 'stopped', inFlight: 0, concurrency, lastClaimAt: worker?.state().lastClaimAt ?? null };
    if (worker) return worker.state();
    return { status: enqueueOnly ? 'enqueue_only' : 'not_started', inFlight: 0, concurrency, lastClaimAt: null };
  };

  return {
    getDeploymentId: async () => state.getConfig().deploymentId,
    queue,
    createQueueHandler,
    start,
    stop,
    queueMetrics: () => ({ ...metrics }),
    workerState,
  };
}
