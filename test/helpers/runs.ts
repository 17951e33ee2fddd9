import { ulid } from 'ulid';
import type { PostgresWorld } from '../../src/index.js';

export const newRunIdForTest = () => `wrun_${ulid()}`;
export const bytes = (...values: number[]) => new Uint8Array(values);

/** Creates a run (pending, or running when `started`) and returns its id. */
export async function createRun(
  world: PostgresWorld,
  opts: { started?: boolean; workflowName?: string; input?: Uint8Array } = {},
): Promise<string> {
  const runId = newRunIdForTest();
  await world.events.create(runId, {
    eventType: 'run_created',
    eventData: { deploymentId: 'dpl_test', workflowName: opts.workflowName ?? 'workflow//test//wf', input: opts.input ?? bytes(1) },
  });
  if (opts.started) await world.events.create(runId, { eventType: 'run_started' });
  return runId;
}

export async function createStep(world: PostgresWorld, runId: string, stepId = `step_${ulid()}`, input = bytes(7)) {
  await world.events.create(runId, {
    eventType: 'step_created',
    correlationId: stepId,
    eventData: { stepName: 'step//test//fn', input },
  });
  return stepId;
}

/** Awaits a promise expected to reject and returns the error (fails the test if it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<{ name: string; status?: number; message: string } & Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    return error as never;
  }
  throw new Error('expected a rejection, but the promise resolved');
}

/** An event's eventData, whatever its type (the Event union omits it on some types). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const dataOf = (event: unknown): any => (event as { eventData?: unknown } | undefined)?.eventData;
