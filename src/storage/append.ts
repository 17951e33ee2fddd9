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
import { callFunction } from '../db/statement.js';
import { withRetry } from '../db/transient-retry.js';
import { worldErrors } from '../errors.js';
import { newRunId } from '../ids.js';
import { log, type LogContext } from '../log.js';
import { PRELOAD_MAX_EVENTS, takeRunStart, toRunStart, type RunStart, type RunStartRow } from '../shared/run-start.js';
import { formatIssues } from '../validation.js';
import { toHook, toRun, toStep, toWait, type EntityRow, type EventRow } from './entities.js';
import { eventPage } from './event-page.js';

/**
 * events.create: the only write path of storage. Each event is one call of an append_*
 * function (migrations/definitions/storage.sql, run-start.sql) that checks its guards on locked
 * rows, appends the event and updates the entity in a single statement, i.e. one transaction and
 * one round trip. Functions are called with named arguments.
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
  error_data: Uint8Array | null;
}

type Data = Record<string, unknown> | undefined;

const RUN_EVENTS = new Set(['run_completed', 'run_failed', 'run_cancelled']);
const STEP_EVENTS = new Set(['step_created', 'step_started', 'step_completed', 'step_failed', 'step_retrying']);
const HOOK_EVENTS = new Set(['hook_created', 'hook_received', 'hook_disposed']);
const WAIT_EVENTS = new Set(['wait_created', 'wait_completed']);

const bytes = (value: unknown): Buffer | null => (value === undefined ? null : Buffer.from(encode(value)));

/** Runs one append function and returns all its rows; see withRetry for what is retried. */
function append<R>(db: Db, fn: string, args: Record<string, unknown>, ctx: LogContext): Promise<R[]> {
  return withRetry(() => callFunction<R>(db, fn, args), {
    what: `appending ${ctx.type}`,
    context: ctx,
    // an event whose reply was lost may have been appended: only retry what surely was not
    idempotent: false,
  });
}

/** Runs one append function that returns one outcome row. */
async function appendOne(db: Db, fn: string, args: Record<string, unknown>, ctx: LogContext): Promise<Outcome> {
  const [row] = await append<Outcome>(db, fn, args, ctx);
  return row as Outcome;
}

function raise(o: { outcome: string | null; detail: string | null }, runId: string): never {
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

function eventOf(
  o: Pick<Outcome, 'event_id' | 'event_type' | 'created_at'>,
  runId: string,
  request: CreateEventRequest | RunCreatedEventRequest,
  specVersion: number,
  resolve: ResolveData,
): Event {
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

const eventRow = (r: RunStartRow, runId: string): EventRow => ({
  id: r.event_pk as string,
  run_id: runId,
  event_id: r.event_id as string,
  event_type: r.event_type as string,
  correlation_id: r.correlation_id,
  data: r.data,
  spec_version: r.spec_version,
  created_at: r.created_at as Date,
});

export function createAppend(getDb: () => Promise<Db>) {
  async function create(
    runIdArg: string | null,
    request: CreateEventRequest | RunCreatedEventRequest,
    params: CreateEventParams = {},
  ): Promise<EventResult> {
    const parsed = CreateEventSchema.safeParse(request);
    if (!parsed.success) throw worldErrors.badRequest(`invalid event: ${formatIssues(parsed.error)}`);
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
      const o = await appendOne(db, 'append_run_created', {
        p_run_id: runId,
        p_deployment_id: data?.deploymentId,
        p_workflow_name: data?.workflowName,
        p_spec_version: specVersion,
        p_execution_context: bytes(data?.executionContext),
        p_data: bytes(data),
      }, ctx);
      if (o.outcome !== 'ok') raise(o, runId);
      const run = toRun(o as EntityRow, 'all');
      log.debug('run created', { runId, workflow: run.workflowName });
      return { event: eventOf(o, runId, request, specVersion, resolve), run };
    }

    if (type === 'run_started') {
      const { run: o, events } = takeRunStart(db, runId) ?? (await startRun(db, runId, specVersion, data, ctx));
      if (o.outcome !== 'ok') raise(o, runId);
      const result: EventResult = { run: toRun(o as EntityRow, 'all') };
      if (o.event_id !== null) result.event = eventOf(o, runId, request, specVersion, resolve); // else already running: no event
      if (events.length > 0) {
        // the same rows, decoding and cursor as events.list, so the runtime can continue from the cursor
        const page = eventPage(events.map((r) => eventRow(r, runId)), PRELOAD_MAX_EVENTS, 'all');
        Object.assign(result, { events: page.data, cursor: page.cursor, hasMore: page.hasMore });
      }
      return result;
    }

    if (RUN_EVENTS.has(type)) {
      const errorCode = type === 'run_failed' ? ((data?.errorCode as string | undefined) ?? null) : null;
      const o = await appendOne(db, 'append_run_finished', {
        p_run_id: runId,
        p_type: type,
        p_data: bytes(data),
        p_spec_version: specVersion,
        p_error_code: errorCode,
        p_state_updated_at_ms: stale,
      }, ctx);
      if (o.outcome !== 'ok') raise(o, runId);
      log.debug('run finished', { runId, type });
      return { event: eventOf(o, runId, request, specVersion, resolve), run: toRun(o as EntityRow, 'all') };
    }

    if (STEP_EVENTS.has(type)) {
      const retryAfter = type === 'step_retrying' ? (data?.retryAfter as Date | string | undefined) : undefined;
      const o = await appendOne(db, 'append_step_event', {
        p_run_id: runId,
        p_type: type,
        p_step_id: correlationId,
        p_data: bytes(data),
        p_spec_version: specVersion,
        p_step_name: (data?.stepName as string | undefined) ?? null,
        p_retry_after: retryAfter === undefined ? null : new Date(retryAfter),
        p_state_updated_at_ms: stale,
      }, { ...ctx, stepId: correlationId ?? undefined });
      if (o.outcome !== 'ok') raise(o, runId);
      return { event: eventOf(o, runId, request, specVersion, resolve), step: toStep(o as EntityRow, 'all') };
    }

    if (HOOK_EVENTS.has(type)) {
      const token = (data?.token as string | undefined) ?? null;
      const o = await appendOne(db, 'append_hook_event', {
        p_run_id: runId,
        p_type: type,
        p_hook_id: correlationId,
        p_data: bytes(data),
        p_spec_version: specVersion,
        p_token: token,
        p_is_webhook: (data?.isWebhook as boolean | undefined) ?? false,
        p_state_updated_at_ms: stale,
      }, ctx);
      if (o.outcome === 'hook_conflict') return recordHookConflict(db, runId, request, token as string, o.detail, specVersion, resolve);
      if (o.outcome !== 'ok') raise(o, runId);
      const event = eventOf(o, runId, request, specVersion, resolve);
      return type === 'hook_created' ? { event, hook: toHook(o as EntityRow, 'all') } : { event };
    }

    if (WAIT_EVENTS.has(type)) {
      const resumeAt = data?.resumeAt as Date | string | undefined;
      const o = await appendOne(db, 'append_wait_event', {
        p_run_id: runId,
        p_type: type,
        p_correlation_id: correlationId,
        p_data: bytes(data),
        p_spec_version: specVersion,
        p_resume_at: resumeAt === undefined ? null : new Date(resumeAt),
        p_state_updated_at_ms: stale,
      }, ctx);
      if (o.outcome !== 'ok') raise(o, runId);
      return { event: eventOf(o, runId, request, specVersion, resolve), wait: toWait(o.entity as Record<string, unknown>) };
    }

    throw worldErrors.badRequest(`unknown event type ${String(type)}`);
  }

  /**
   * One statement starts the run and reads its log (append_run_started_log). With the run's
   * input in eventData (a resilient start), a missing run is created first.
   */
  async function startRun(db: Db, runId: string, specVersion: number, data: Data, ctx: LogContext): Promise<RunStart> {
    const resilient = data?.deploymentId !== undefined && data?.workflowName !== undefined && data?.input !== undefined;
    const created = resilient
      ? { deploymentId: data.deploymentId, workflowName: data.workflowName, input: data.input,
          ...(data.executionContext !== undefined ? { executionContext: data.executionContext } : {}) }
      : undefined;
    const rows = await append<RunStartRow>(db, 'append_run_started_log', {
      p_run_id: runId,
      p_spec_version: specVersion,
      p_resilient: resilient,
      p_deployment_id: data?.deploymentId ?? null,
      p_workflow_name: data?.workflowName ?? null,
      p_execution_context: bytes(data?.executionContext),
      p_created_data: bytes(created),
      p_max_events: PRELOAD_MAX_EVENTS,
    }, ctx);
    return toRunStart(rows);
  }

  /** A token held by another live hook: the requesting run records a hook_conflict event. */
  async function recordHookConflict(
    db: Db, runId: string, request: CreateEventRequest | RunCreatedEventRequest, token: string, holder: string | null,
    specVersion: number, resolve: ResolveData,
  ): Promise<EventResult> {
    const eventData = { token, ...(holder ? { conflictingRunId: holder } : {}) };
    const o = await appendOne(db, 'append_hook_conflict', {
      p_run_id: runId,
      p_hook_id: request.correlationId,
      p_data: bytes(eventData),
      p_spec_version: specVersion,
    }, { runId, type: 'hook_conflict' });
    if (o.outcome !== 'ok') raise(o, runId);
    log.info('hook token already in use; recorded hook_conflict', { runId, hookId: request.correlationId, conflictingRunId: holder ?? undefined });
    const conflict = { eventType: 'hook_conflict', correlationId: request.correlationId, eventData } as unknown as CreateEventRequest;
    return { event: eventOf(o, runId, conflict, specVersion, resolve) };
  }

  return { create };
}
