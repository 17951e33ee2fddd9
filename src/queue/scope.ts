import { AsyncLocalStorage } from 'node:async_hooks';
import type { Db } from '../db/client.js';
import type { RunStartRows } from '../storage/append.js';
import type { Outbox } from './outbox.js';

/**
 * What the worker hands to one in-process delivery, found by the World's methods that its
 * handler calls (the runtime calls them on another World instance than the worker's, so this
 * travels with the async context, not with an instance).
 */
export interface DeliveryScope {
  /** Where the handler's messages to its own run go (outbox.ts). */
  outbox: Outbox;
  /**
   * run_started's answer for the delivery's run as the claim read it (claim_deliveries), served
   * once to the handler's run_started instead of a statement: the same answer as a run_started
   * issued at the claim, a few milliseconds earlier.
   */
  runStart?: { db: Db; runId: string; rows: RunStartRows };
}

/** Process-wide, like the handler registry: the CommonJS and ESM builds share one. */
const KEY = Symbol.for('workflow-world-postgres//delivery-scope');
const g = globalThis as { [KEY]?: AsyncLocalStorage<DeliveryScope> };
const storage = (g[KEY] ??= new AsyncLocalStorage<DeliveryScope>());

/** Runs a handler inside `scope`. */
export function withDeliveryScope<T>(scope: DeliveryScope, fn: () => Promise<T>): Promise<T> {
  return storage.run(scope, fn);
}

/** The scope of the delivery whose handler is calling, if any. */
export function currentDeliveryScope(): DeliveryScope | undefined {
  return storage.getStore();
}

/** The claim's run_started answer for `runId` on `db`'s schema, taken at most once. */
export function takeRunStart(db: Db, runId: string): RunStartRows | undefined {
  const scope = storage.getStore();
  const start = scope?.runStart;
  if (!start || start.runId !== runId || start.db.sql !== db.sql || start.db.schema !== db.schema) return undefined;
  scope.runStart = undefined;
  return start.rows;
}
