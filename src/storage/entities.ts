import type { Event, Hook, ResolveData, Step, Wait, WorkflowRun } from '@workflow/world';
import { decode } from '../codec.js';
import type { Database } from '../db/tables.js';

/**
 * Maps database rows to World entities. Entity rows arrive as `to_jsonb(row)` (the same shape
 * from the append functions and from reads) with the payload-holding events' data beside them:
 * payloads are stored once, in the event that brought them.
 */
type Json = Record<string, unknown>;

export interface EntityRow {
  entity: Json;
  input_data: Uint8Array | null;
  result_data: Uint8Array | null;
  /** Steps only: the latest step_failed / step_retrying event's data. */
  error_data?: Uint8Array | null;
}

type EventData = Record<string, unknown> | undefined;

const date = (v: unknown): Date | undefined => (v === null || v === undefined ? undefined : new Date(v as string));
const bytesFromJson = (v: unknown): Uint8Array | null =>
  typeof v === 'string' && v.startsWith('\\x') ? Buffer.from(v.slice(2), 'hex') : null;
const opt = <T>(v: T | null | undefined): T | undefined => (v === null ? undefined : v);

/** `{ message, stack }` from an event's `error`, which may be a string or an object. */
function structuredError(data: EventData, code?: string) {
  const raw = data?.error as unknown;
  const message =
    typeof raw === 'string'
      ? raw
      : typeof (raw as { message?: unknown } | null)?.message === 'string'
        ? (raw as { message: string }).message
        : 'Unknown error';
  const stack = (data?.stack as string | undefined) ?? (raw as { stack?: string } | null)?.stack;
  return {
    message,
    ...(typeof stack === 'string' ? { stack } : {}),
    ...(code ? { code } : {}),
  };
}

export function toRun(row: EntityRow, resolveData: ResolveData): WorkflowRun {
  const r = row.entity;
  const status = r.status as WorkflowRun['status'];
  const run: Record<string, unknown> = {
    runId: r.run_id,
    status,
    deploymentId: r.deployment_id,
    workflowName: r.workflow_name,
    specVersion: opt(r.spec_version),
    executionContext: decode(bytesFromJson(r.execution_context)),
    startedAt: date(r.started_at),
    completedAt: date(r.completed_at),
    expiredAt: date(r.expired_at),
    createdAt: date(r.created_at),
    updatedAt: date(r.updated_at),
  };
  if (resolveData === 'all') run.input = decode<Json>(row.input_data)?.input;
  const result = status === 'completed' || status === 'failed' ? decode<Json>(row.result_data) : undefined;
  if (status === 'completed' && resolveData === 'all') run.output = result?.output;
  if (status === 'failed') run.error = structuredError(result, opt(r.error_code as string | null));
  return run as unknown as WorkflowRun;
}

export function toStep(row: EntityRow, resolveData: ResolveData): Step {
  const s = row.entity;
  const status = s.status as Step['status'];
  const step: Record<string, unknown> = {
    runId: s.run_id,
    stepId: s.step_id,
    stepName: s.step_name,
    status,
    attempt: s.attempt,
    startedAt: date(s.started_at),
    completedAt: date(s.completed_at),
    retryAfter: date(s.retry_after),
    createdAt: date(s.created_at),
    updatedAt: date(s.updated_at),
    specVersion: opt(s.spec_version),
  };
  if (resolveData === 'all') step.input = decode<Json>(row.input_data)?.input;
  if (status === 'completed' && resolveData === 'all') step.output = decode<Json>(row.result_data)?.result;
  // step_failed, or the latest step_retrying: kept after a retried step completes
  const error = decode<Json>(row.error_data);
  if (error !== undefined) step.error = structuredError(error);
  return step as unknown as Step;
}

const HOOK_OWNER = { ownerId: 'postgres-owner', projectId: 'postgres-project', environment: 'postgres' };

export function toHook(row: EntityRow, resolveData: ResolveData): Hook {
  const h = row.entity;
  const hook: Record<string, unknown> = {
    runId: h.run_id,
    hookId: h.hook_id,
    token: h.token,
    ...HOOK_OWNER,
    isWebhook: h.is_webhook,
    createdAt: date(h.created_at),
    specVersion: opt(h.spec_version),
  };
  if (resolveData === 'all') hook.metadata = decode<Json>(row.input_data)?.metadata;
  return hook as unknown as Hook;
}

export function toWait(entity: Json): Wait {
  return {
    waitId: `${entity.run_id}-${entity.correlation_id}`,
    runId: entity.run_id as string,
    status: entity.status as Wait['status'],
    resumeAt: date(entity.resume_at),
    completedAt: date(entity.completed_at),
    createdAt: date(entity.created_at) as Date,
    updatedAt: date(entity.updated_at) as Date,
    specVersion: opt(entity.spec_version as number | null),
  };
}

export type EventRow = Database['events'];

export function toEvent(row: EventRow): Event {
  const event: Record<string, unknown> = {
    runId: row.run_id,
    eventId: row.event_id,
    eventType: row.event_type,
    createdAt: row.created_at,
  };
  if (row.correlation_id !== null) event.correlationId = row.correlation_id;
  if (row.spec_version !== null) event.specVersion = row.spec_version;
  const data = decode(row.data);
  if (data !== undefined) event.eventData = data;
  return event as unknown as Event;
}
