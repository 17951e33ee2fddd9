import { describe, expect, test } from 'vitest';
import { testWorld } from '../../helpers/db.js';
import { ulid } from 'ulid';

describe('smoke', () => {
  test('run lifecycle', async () => {
    const world = testWorld();
    const runId = `wrun_${ulid()}`;
    const input = new Uint8Array([1, 2, 0, 3]);
    const created = await world.events.create(runId, {
      eventType: 'run_created',
      eventData: { deploymentId: 'd', workflowName: 'wf', input },
    });
    expect(created.run?.runId).toBe(runId);
    expect(created.run?.input).toEqual(input);
    const started = await world.events.create(runId, { eventType: 'run_started' });
    expect(started.run?.status).toBe('running');
    const step = await world.events.create(runId, {
      eventType: 'step_created', correlationId: 'step_1', eventData: { stepName: 's', input },
    });
    expect(step.step?.status).toBe('pending');
    const list = await world.events.list({ runId });
    expect(list.data.map((e) => e.eventType)).toEqual(['run_created', 'run_started', 'step_created']);
  });
});
