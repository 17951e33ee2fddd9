import type { Event, World } from '@workflow/world';
import { type Loose, newRunId, newStepId, nonce, payload } from './util.js';

/** The spec version the runtime stamps on every event it sends (it sends one on each). */
export const SPEC = 3;

export const workflowName = (tag = nonce()): string => `workflow//./src/conformance/${tag}.ts//flow`;
export const stepName = 'step//./src/conformance/steps.ts//add';

export interface RunOptions {
  workflowName?: string;
  input?: Uint8Array;
  executionContext?: Record<string, unknown>;
  deploymentId?: string;
}

/** `run_created` as `start()` sends it; returns the run id. */
export async function createRun(world: World, options: RunOptions = {}): Promise<string> {
  const runId = newRunId();
  await world.events.create(runId, {
    eventType: 'run_created',
    specVersion: SPEC,
    eventData: {
      deploymentId: options.deploymentId ?? 'dpl_conformance',
      workflowName: options.workflowName ?? workflowName(),
      input: options.input ?? payload(1, 2, 3),
      ...(options.executionContext ? { executionContext: options.executionContext } : {}),
    },
  } as Loose);
  return runId;
}

export async function startRun(world: World, runId: string): Promise<void> {
  await world.events.create(runId, { eventType: 'run_started', specVersion: SPEC } as Loose);
}

/** A run that is `running` (created and started). */
export async function runningRun(world: World, options: RunOptions = {}): Promise<string> {
  const runId = await createRun(world, options);
  await startRun(world, runId);
  return runId;
}

export async function createStep(world: World, runId: string, stepId = newStepId(), input = payload(7)): Promise<string> {
  await world.events.create(runId, {
    eventType: 'step_created',
    specVersion: SPEC,
    correlationId: stepId,
    eventData: { stepName, input },
  } as Loose);
  return stepId;
}

export async function startStep(world: World, runId: string, stepId: string): Promise<Loose> {
  return world.events.create(runId, {
    eventType: 'step_started',
    specVersion: SPEC,
    correlationId: stepId,
    eventData: { stepName },
  } as Loose);
}

export function completeStep(world: World, runId: string, stepId: string, result = payload(9)): Promise<Loose> {
  return world.events.create(runId, {
    eventType: 'step_completed',
    specVersion: SPEC,
    correlationId: stepId,
    eventData: { stepName, result },
  } as Loose);
}

export function createHook(
  world: World,
  runId: string,
  hookId: string,
  token: string,
  extra: { metadata?: Uint8Array; isWebhook?: boolean } = {},
): Promise<Loose> {
  return world.events.create(runId, {
    eventType: 'hook_created',
    specVersion: SPEC,
    correlationId: hookId,
    eventData: { token, ...extra },
  } as Loose);
}

export function createWait(world: World, runId: string, waitId: string, resumeAt: Date): Promise<Loose> {
  return world.events.create(runId, {
    eventType: 'wait_created',
    specVersion: SPEC,
    correlationId: waitId,
    eventData: { resumeAt },
  } as Loose);
}

/** Any event request; the suite sends shapes the schema allows and a few it does not. */
export function send(world: World, runId: string, event: Record<string, unknown>, params?: Loose): Promise<Loose> {
  return world.events.create(runId, { specVersion: SPEC, ...event } as Loose, params);
}

/** The whole event log of a run, following cursors (ascending, data resolved). */
export async function allEvents(world: World, runId: string): Promise<Event[]> {
  const out: Event[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const res = await world.events.list({ runId, pagination: { sortOrder: 'asc', limit: 100, ...(cursor ? { cursor } : {}) } });
    out.push(...res.data);
    if (!res.hasMore) return out;
    if (!res.cursor) throw new Error('events.list answered hasMore: true with a null cursor');
    cursor = res.cursor;
  }
  throw new Error('events.list did not end after 1000 pages');
}

export async function eventTypes(world: World, runId: string): Promise<string[]> {
  return (await allEvents(world, runId)).map((e) => e.eventType);
}

export const count = (values: string[], value: string): number => values.filter((v) => v === value).length;
