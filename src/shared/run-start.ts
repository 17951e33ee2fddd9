import { AsyncLocalStorage } from 'node:async_hooks';
import type { Db } from '../db/client.js';

/**
 * run_started's answer, as append_run_started_log returns it
 * (migrations/definitions/run-start.sql): the run after the call and, when its log is short, the
 * whole log, so the runtime replays without events.list. Storage asks for it on run_started; the
 * queue's claim reads it for a claimed workflow message of a running run and hands it to the
 * delivery, whose run_started is then answered from it without a statement (takeRunStart).
 */

/**
 * The longest log that run_started returns with the run (docs/world-contract.md §8). A longer
 * log is left to events.list, which pages it.
 */
export const PRELOAD_MAX_EVENTS = 1000;

/** One row of append_run_started_log: the 'run' row, or one of the 'event' rows after it. */
export interface RunStartRow {
  row_kind: 'run' | 'event';
  outcome: string | null;
  detail: string | null;
  entity: Record<string, unknown> | null;
  input_data: Uint8Array | null;
  result_data: Uint8Array | null;
  event_pk: string | null;
  event_id: string | null;
  event_type: string | null;
  created_at: Date | null;
  correlation_id: string | null;
  data: Uint8Array | null;
  spec_version: number | null;
}

export interface RunStart {
  /** The outcome, the run, and the run_started event when one was appended. */
  run: RunStartRow;
  /** The run's log in order; empty when it is longer than PRELOAD_MAX_EVENTS or not replayed. */
  events: RunStartRow[];
}

/** Groups append_run_started_log's rows (which always start with the 'run' row). */
export function toRunStart(rows: readonly RunStartRow[]): RunStart {
  const [run, ...events] = rows;
  if (run?.row_kind !== 'run' || events.some((e) => e.row_kind !== 'event')) {
    throw new Error('[workflow-world-postgres] append_run_started_log returned rows out of shape');
  }
  return { run, events };
}

/** A run_started answer read ahead for one delivery's run. */
interface Preload {
  db: Db;
  runId: string;
  runStart: RunStart;
}

/**
 * Process-wide, like the queue's handler registry: the CommonJS and ESM builds share it. The
 * runtime calls run_started on another World instance than the worker's, so the preload travels
 * with the delivery's async context, not with an instance.
 */
const KEY = Symbol.for('workflow-world-postgres//preloaded-run-start');
const g = globalThis as { [KEY]?: AsyncLocalStorage<{ preload?: Preload }> };
const store = (g[KEY] ??= new AsyncLocalStorage<{ preload?: Preload }>());

/** Runs `fn` (a delivery's handler) with `preload` available to its run_started. */
export function withPreloadedRunStart<T>(preload: Preload | undefined, fn: () => Promise<T>): Promise<T> {
  return preload ? store.run({ preload }, fn) : fn();
}

/**
 * The preloaded answer for `runId` on `db`'s schema, taken at most once: the same answer as a
 * run_started issued at the claim, a few milliseconds earlier.
 */
export function takeRunStart(db: Db, runId: string): RunStart | undefined {
  const scope = store.getStore();
  const preload = scope?.preload;
  if (!preload || preload.runId !== runId || preload.db.sql !== db.sql || preload.db.schema !== db.schema) return undefined;
  scope.preload = undefined;
  return preload.runStart;
}
