import type { Storage, Streamer } from '@workflow/world';
import { traceCall } from './telemetry.js';

/**
 * Wraps the World's storage and stream methods in client spans and duration metrics
 * (telemetry.ts): `world.runs.get`, `world.events.create <eventType>`, `world.streams.write`…
 * Each wrapper is a closure like the method it wraps, so the World still works detached.
 */
type Fn = (...args: never[]) => Promise<unknown>;

/** Which argument holds the run id, per method ('events.create' takes it first, as most do). */
const RUN_ID_ARG: Record<string, number | undefined> = {
  'runs.get': 0,
  'steps.get': 0,
  'events.get': 0,
  'events.create': 0,
  'streams.write': 1,
  'streams.close': 1,
  'streams.list': 0,
};

export function instrumentStorage(storage: Storage, schema: () => string): Storage {
  const wrap = <F extends Fn>(operation: string, fn: F): F =>
    ((...args: Parameters<F>) =>
      traceCall(
        operation,
        operation === 'events.create' ? (args[1] as { eventType?: string } | undefined)?.eventType : undefined,
        () => attributes(operation, args, schema),
        () => fn(...args),
      )) as F;
  const group = <T extends object>(name: string, methods: T): T =>
    Object.fromEntries(Object.entries(methods).map(([k, f]) => [k, wrap(`${name}.${k}`, f as Fn)])) as T;
  return {
    ...storage,
    runs: group('runs', storage.runs),
    steps: group('steps', storage.steps),
    hooks: group('hooks', storage.hooks),
    events: group('events', storage.events),
  };
}

const STREAM_OPERATIONS: Record<string, string> = {
  writeToStream: 'streams.write',
  writeToStreamMulti: 'streams.write',
  closeStream: 'streams.close',
  readFromStream: 'streams.read',
  listStreamsByRunId: 'streams.list',
  getStreamChunks: 'streams.get_chunks',
  getStreamInfo: 'streams.info',
};

export function instrumentStreamer<S extends Partial<Streamer>>(streamer: S, schema: () => string): S {
  const wrapped: Record<string, unknown> = { ...streamer };
  for (const [method, operation] of Object.entries(STREAM_OPERATIONS)) {
    const fn = (streamer as Record<string, unknown>)[method] as Fn | undefined;
    if (!fn) continue;
    wrapped[method] = (...args: never[]) => traceCall(operation, undefined, () => attributes(operation, args, schema), () => fn(...args));
  }
  return wrapped as S;
}

function attributes(operation: string, args: readonly unknown[], schema: () => string) {
  let namespace: string | undefined;
  try {
    namespace = schema();
  } catch {
    namespace = undefined; // configuration invalid: the call itself reports it
  }
  const index = RUN_ID_ARG[operation];
  const runId = index === undefined ? undefined : args[index];
  return {
    'db.system.name': 'postgresql',
    ...(namespace ? { 'db.namespace': namespace } : {}),
    ...(typeof runId === 'string' ? { 'workflow.run.id': runId } : {}),
  };
}
