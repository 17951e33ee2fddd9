import type { Queue, QueueKind } from '@workflow/world';

/**
 * The queue handlers of this process, by kind. The runtime calls `createQueueHandler` on one World
 * instance (the cached `getWorldHandlers()` one, never started) and `start()` on another
 * (`getWorld()`), so the worker of the started instance finds handlers here rather than on its own
 * instance (docs/world-contract.md §1.3). The registry lives on `globalThis` so that the CommonJS
 * and ESM builds of this package, when both are loaded, share it. The latest handler of a kind
 * wins: a dev server that reloads a route registers a fresh one.
 */
export type QueueHandler = Parameters<Queue['createQueueHandler']>[1];

interface Registry {
  handlers: Map<QueueKind, QueueHandler>;
  listeners: Set<() => void>;
}

const KEY = Symbol.for('workflow-world-postgres//queue-handlers');

function registry(): Registry {
  const g = globalThis as { [KEY]?: Registry };
  g[KEY] ??= { handlers: new Map(), listeners: new Set() };
  return g[KEY];
}

export function registerHandler(kind: QueueKind, handler: QueueHandler): void {
  const r = registry();
  r.handlers.set(kind, handler);
  for (const listener of r.listeners) listener();
}

export function getHandler(kind: QueueKind): QueueHandler | undefined {
  return registry().handlers.get(kind);
}

/** Calls `listener` whenever a handler is registered (workers claim kinds they can now deliver). */
export function onRegister(listener: () => void): () => void {
  const r = registry();
  r.listeners.add(listener);
  return () => r.listeners.delete(listener);
}
