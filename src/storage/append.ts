import type {
  CreateEventParams,
  CreateEventRequest,
  Event,
  EventResult,
  ResolveData,
  RunCreatedEventRequest,
} from '@workflow/world';
import { CreateEventSchema, SPEC_VERSION_CURRENT, stripEventDataRefs, validateUlidTimestamp } from '@workflow/world';

import { encode } from '../codec.js';
import type { Db } from '../db/client.js';
import { withRetry } from '../db/retry.js';
import { worldErrors } from '../errors.js';
import { newRunId } from '../ids.js';
import { log, type LogContext } from '../log.js';
import { takeRunStart } from '../queue/scope.js';
import { toHook, toRun, toStep, toWait, type EntityRow, type EventRow } from './entities.js';
import { eventPage } from './reads.js';

/**
 * events.create: the only write path of storage. Each event is one call of an append_*
 * function (migrations/0001_storage.up.sql) that checks its guards on locked rows, appends the
 * event and updates the entity in a single statement, i.e. one transaction and one round trip.
 */
interface Outcome {
  outcome: string;
  detail: string | null;
  event_pk: string | null;
  event_id: string | null;
  event_type: string | null;
  created_at: Date | null;
  entity: Record<string, unknown> | null;
  input_data: Uint8Array | null;
  result_data: Uint8Array | null;
}

/** append_run_started_log: the first row is the outcome, the following rows (outcome null) the run's events. */
export interface LogRow extends Outcome {
  correlation_id: string | null;
  data: Uint8Array | null;
  spec_version: number | null;
}

export type RunStartRows = [LogRow, ...LogRow[]];

type Data = Record<string, unknown> | undefined;

/**
 * The longest log that run_started returns with the run (CONTRACT §8). The runtime replays from
 * it instead of calling events.list, saving a statement per workflow delivery; a longer log is
 * left to events.list, which pages it.
 */
export const PRELOAD_MAX_EVENTS = 1000;

const RUN_EVENTS = new Set(['run_completed', 'run_failed', 'run_cancelled']);
const STEP_EVENTS = new Set(['step_created', 'step_started', 'step_completed', 'step_failed', 'step_retrying']);
const HOOK_EVENTS = new Set(['hook_created', 'hook_received', 'hook_disposed']);
const WAIT_EVENTS = new Set(['wait_created', 'wait_completed']);

const bytes = (value: unknown): Buffer | null => (value === undefined ? null : Buffer.from(encode(value)));

export function createAppend(getDb: () => Promise<Db>) {
  /** Runs one append statement and returns all its rows; see withRetry for what is retried. */
  async function callRows<R extends Outcome>(db: Db, fn: string, args: unknown[], ctx: LogContext): Promise<R[]> {
    const placeholders = args.map((_, i) => `$${i + 1}`).join(', ');
    const text = `select * from ${db.ident}.${fn}(${placeholders})`;
    return withRetry(
      async () => (await db.sql.unsafe<R[]>(text, args as never[], { prepare: db.config.prepare })) as R[],
      // an event whose reply was lost may have been appended: only retry what surely was not
      { what: `appending ${ctx.type}`, context: ctx, idempotent: false },
    );
  }

  /** Runs one append statement that returns one outcome row. */
  async function call(db: Db, fn: string, args: unknown[], ctx: LogContext): Promise<Outcome> {
    const [row] = await callRows(db, fn, args, ctx);
    return row as Outcome;
  }

  function raise(o: Outcome, runId: string): never {
    const detail = o.detail ?? '';
    switch (o.outcome) {
      case 'conflict':
        throw worldErrors.conflict(detail);
      case 'run_not_found':
        throw worldErrors.runNotFound(runId);
      case 'run_terminal':
        throw worldErrors.runExpired(detail);
      case 'not_found':
        throw worldErrors.notFound(detail);
      case 'hook_not_found':
        throw worldErrors.hookNotFound(detail);
      case 'too_early':
        throw worldErrors.tooEarly(`step may not start for another ${detail}s`, Number(detail));
      case 'precondition_failed':
        throw worldErrors.preconditionFailed(detail);
      case 'run_not_supported':
        throw worldErrors.runNotSupported(Number(detail), SPEC_VERSION_CURRENT);
      case 'legacy_run':
        throw worldErrors.badRequest(`run ${runId} uses a legacy spec version this World does not serve`);
      default:
        throw new Error(`[workflow-world-postgres] unexpected append outcome ${o.outcome}`);
    }
  }

  function eventOf(o: Outcome, runId: string, request: CreateEventRequest | RunCreatedEventRequest, specVersion: number, resolve: ResolveData): Event {
    const event: Record<string, unknown> = {
      runId,
      eventId: o.event_id,
      eventType: o.event_type,
      createdAt: o.created_at,
      specVersion,
    };
    if (request.correlationId !== undefined) event.correlationId = request.correlationId;
    const data = (request as { eventData?: unknown }).eventData;
    if (data !== undefined && request.eventType !== 'run_started') event.eventData = data;
    return stripEventDataRefs(event as unknown as Event, resolve);
  }

  async function create(
    runIdArg: string | null,
    request: CreateEventRequest | RunCreatedEventRequest,
    params: CreateEventParams = {},
  ): Promise<EventResult> {
    const parsed = CreateEventSchema.safeParse(request);
    if (!parsed.success) {
      const detail = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
      throw worldErrors.badRequest(`invalid event: ${detail}`);
    }
    const type: string = request.eventType;
    if (type === 'hook_conflict') {
      throw worldErrors.badRequest('hook_conflict events are created by the World only');
    }
    if (runIdArg === null && type !== 'run_created') throw worldErrors.badRequest(`${type} needs a runId`);
    const runId = runIdArg ?? newRunId();
    const resolve = params.resolveData ?? 'all';
    const specVersion = request.specVersion ?? SPEC_VERSION_CURRENT;
    const data = (request as { eventData?: Data }).eventData;
    const correlationId = request.correlationId ?? null;
    const stale = params.stateUpdatedAt ?? null;
    const ctx = { runId, type };
    const db = await getDb();

    if (type === 'run_created') {
      if (runIdArg !== null) {
        const problem = validateUlidTimestamp(runId, 'wrun_');
        if (problem) throw worldErrors.badRequest(problem);
      }
      const o = await call(db, 'append_run_created', [
        runId, data?.deploymentId, data?.workflowName, specVersion,
        bytes(data?.executionContext), bytes(data),
      ], ctx);
      if (o.outcome !== 'ok') raise(o, runId);
      const run = toRun(o as EntityRow, 'all');
      log.debug('run created', { runId, workflow: run.workflowName });
      return { event: eventOf(o, runId, request, specVersion, resolve), run };
    }

    if (type === 'run_started') {
      const resilient = data?.deploymentId !== undefined && data?.workflowName !== undefined && data?.input !== undefined;
      const created = resilient
        ? { deploymentId: data.deploymentId, workflowName: data.workflowName, input: data.input,
            ...(data.executionContext !== undefined ? { executionContext: data.executionContext } : {}) }
        : undefined;
      // One statement starts the run and reads its log (migrations/0004_run_started_log.up.sql),
      // or none: the claim of this delivery already read it (src/queue/scope.ts)
      const [o, ...logRows] = takeRunStart(db, runId) ?? ((await callRows<LogRow>(db, 'append_run_started_log', [
        runId, specVersion, resilient, data?.deploymentId ?? null, data?.workflowName ?? null,
        bytes(data?.executionContext), bytes(created), PRELOAD_MAX_EVENTS,
      ], ctx)) as RunStartRows);
      if (o.outcome !== 'ok') raise(o, runId);
      const result: EventResult = { run: toRun(o as EntityRow, 'all') };
      if (o.event_id !== null) result.event = eventOf(o, runId, request, specVersion, resolve); // else already running: no event
      if (logRows.length > 0) {
        // the same rows, decoding and cursor as events.list, so the runtime can continue from the cursor
        const page = eventPage(logRows.map((r) => eventRow(r, runId)), PRELOAD_MAX_EVENTS, 'all');
        Object.assign(result, { events: page.data, cursor: page.cursor, hasMore: page.hasMore });
      }
      return result;
    }

    if (RUN_EVENTS.has(type)) {
      const errorCodeArg = type === 'run_failed' ? ((data?.errorCode as string | undefined) ?? null) : null;
      const o = await call(db, 'append_run_finished', [runId, type, bytes(data), specVersion, errorCodeArg, stale], ctx);
      if (o.outcome !== 'ok') raise(o, runId);
      log.debug('run finished', { runId, type });
      return { event: eventOf(o, runId, request, specVersion, resolve), run: toRun(o as EntityRow, 'all') };
    }

    if (STEP_EVENTS.has(type)) {
      const retryAfter = type === 'step_retrying' ? (data?.retryAfter as Date | string | undefined) : undefined;
      const o = await call(db, 'append_step_event', [
        runId, type, correlationId, bytes(data), specVersion,
        (data?.stepName as string | undefined) ?? null,
        retryAfter === undefined ? null : new Date(retryAfter), stale,
      ], { ...ctx, stepId: correlationId ?? undefined });
      if (o.outcome !== 'ok') raise(o, runId);
      return { event: eventOf(o, runId, request, specVersion, resolve), step: toStep(o as EntityRow, 'all') };
    }

    if (HOOK_EVENTS.has(type)) {
      const token = (data?.token as string | undefined) ?? null;
      const isWebhook = (data?.isWebhook as boolean | undefined) ?? false;
      const o = await call(db, 'append_hook_event', [
        runId, type, correlationId, bytes(data), specVersion, token, isWebhook, stale,
      ], ctx);
      if (o.outcome === 'hook_conflict') return recordHookConflict(db, runId, request, token as string, o.detail, specVersion, resolve);
      if (o.outcome !== 'ok') raise(o, runId);
      const event = eventOf(o, runId, request, specVersion, resolve);
      return type === 'hook_created' ? { event, hook: toHook(o as EntityRow, 'all') } : { event };
    }

    if (WAIT_EVENTS.has(type)) {
      const resumeAt = data?.resumeAt as Date | string | undefined;
      const o = await call(db, 'append_wait_event', [
        runId, type, correlationId, bytes(data), specVersion,
        resumeAt === undefined ? null : new Date(resumeAt), stale,
      ], ctx);
      if (o.outcome !== 'ok') raise(o, runId);
      return { event: eventOf(o, runId, request, specVersion, resolve), wait: toWait(o.entity as Record<string, unknown>) };
    }

    throw worldErrors.badRequest(`unknown event type ${String(type)}`);
  }

  /** A token held by another live hook: the requesting run records a hook_conflict event. */
  async function recordHookConflict(
    db: Db, runId: string, request: CreateEventRequest | RunCreatedEventRequest, token: string, holder: string | null,
    specVersion: number, resolve: ResolveData,
  ): Promise<EventResult> {
    const eventData = { token, ...(holder ? { conflictingRunId: holder } : {}) };
    const o = await call(db, 'append_hook_conflict', [runId, request.correlationId, bytes(eventData), specVersion], {
      runId, type: 'hook_conflict',
    });
    if (o.outcome !== 'ok') raise(o, runId);
    log.info('hook token already in use; recorded hook_conflict', { runId, hookId: request.correlationId, conflictingRunId: holder ?? undefined });
    const conflict = { eventType: 'hook_conflict', correlationId: request.correlationId, eventData } as unknown as CreateEventRequest;
    return { event: eventOf(o, runId, conflict, specVersion, resolve) };
  }

  return { create };
}

const eventRow = (r: LogRow, runId: string): EventRow => ({
  id: r.event_pk as string,
  run_id: runId,
  event_id: r.event_id as string,
  event_type: r.event_type as string,
  correlation_id: r.correlation_id,
  data: r.data,
  spec_version: r.spec_version,
  created_at: r.created_at as Date,
});

export type Append = ReturnType<typeof createAppend>;
