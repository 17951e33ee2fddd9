import type { Queue } from '@workflow/world';
import { getQueuePrefixKind } from '@workflow/world';
import type { Db } from '../db/client.js';
import { channelName } from '../db/listener.js';
import { newMessageId } from '../ids.js';
import type { WorldState } from '../shared/world-state.js';
import { currentOutbox } from './delivery-scope.js';
import { enqueueMessage, prepareMessage } from './enqueue.js';
import { registerHandler } from './handlers.js';
import { createRequestHandler } from './http-route.js';
import { createMetrics, type QueueMetrics } from './metrics.js';
import { createReconciler } from './recovery.js';
import { createWaker, type Waker } from './wake.js';
import { createWorker } from './worker.js';

export type { QueueMetrics } from './metrics.js';

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
} {
  const metrics = createMetrics();
  const channel = () => channelName(state.getConfig().schema, 'queue');
  let starting: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;
  let components: { stop(): Promise<void> }[] = [];
  let waker: Waker | undefined;
  const getWaker = (db: Db): Waker => (waker ??= createWaker(db, channel()));

  const queue: Queue['queue'] = async (queueName, message, opts) => {
    const prepared = prepareMessage(queueName, message, opts);
    const db = await state.getDb();
    const id = newMessageId();
    // sent by a handler to its own run: enqueued with the delivery's result (outbox.ts)
    const held = currentOutbox()?.offer(db, id, prepared) ?? false;
    const messageId = held ? id : await enqueueMessage(db, getWaker(db), id, prepared);
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
      if (stopping || db.config.queueConcurrency === 0) return; // enqueue-only process
      const worker = createWorker({ db, channel: channel(), waker: getWaker(db), metrics });
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
    })();
    return stopping;
  };

  return {
    getDeploymentId: async () => state.getConfig().deploymentId,
    queue,
    createQueueHandler,
    start,
    stop,
    queueMetrics: () => ({ ...metrics }),
  };
}
