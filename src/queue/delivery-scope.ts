import { AsyncLocalStorage } from 'node:async_hooks';
import type { Outbox } from './outbox.js';

/**
 * The outbox of the in-process delivery whose handler is calling `queue()`. The runtime calls
 * `queue()` on another World instance than the worker's, so the outbox travels with the
 * delivery's async context, not with an instance. Process-wide, like the handler registry: the
 * CommonJS and ESM builds share one.
 */
const KEY = Symbol.for('workflow-world-postgres//delivery-outbox');
const g = globalThis as { [KEY]?: AsyncLocalStorage<Outbox> };
const storage = (g[KEY] ??= new AsyncLocalStorage<Outbox>());

/** Runs a handler with `outbox` receiving what it sends to its own run. */
export function withOutbox<T>(outbox: Outbox, fn: () => Promise<T>): Promise<T> {
  return storage.run(outbox, fn);
}

/** The outbox of the delivery whose handler is calling, if any. */
export function currentOutbox(): Outbox | undefined {
  return storage.getStore();
}
