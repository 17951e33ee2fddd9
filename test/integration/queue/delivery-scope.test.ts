import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import { currentOutbox, withOutbox } from '../../../src/queue/delivery-scope.js';
import { prepareMessage } from '../../../src/queue/enqueue.js';
import { Outbox } from '../../../src/queue/outbox.js';
import { takeRunStart, withPreloadedRunStart, type RunStart } from '../../../src/shared/run-start.js';
import { internalDb, queueWorld } from './helpers.js';

describe('delivery scope', () => {
  test("the handler finds its delivery's scope through async calls, only inside the delivery; the claim's run_started answer is taken once", async () => {
    const world = queueWorld();
    await world.runs.list(); // migrates the schema
    const db = internalDb(world.schema);
    const outbox = new Outbox(db, 'wrun_a', async () => {}, 60_000);
    const runStart = { run: { row_kind: 'run', outcome: 'ok' }, events: [] } as unknown as RunStart;
    expect(currentOutbox()).toBeUndefined();
    const seen = await withPreloadedRunStart({ db, runId: 'wrun_a', runStart }, () =>
      withOutbox(outbox, async () => {
        await sleep(1);
        const scope = currentOutbox();
        expect(takeRunStart(db, 'wrun_b')).toBeUndefined(); // another run
        expect(takeRunStart(internalDb(`${world.schema}_b`), 'wrun_a')).toBeUndefined(); // another schema
        expect(takeRunStart(db, 'wrun_a')).toBe(runStart);
        expect(takeRunStart(db, 'wrun_a')).toBeUndefined(); // a second run_started asks the database
        return scope;
      }),
    );
    expect(seen).toBe(outbox);
    expect(currentOutbox()).toBeUndefined();
    expect(takeRunStart(db, 'wrun_a')).toBeUndefined();
    // a message sent inside the delivery is offered to its outbox
    await withOutbox(outbox, async () => {
      expect(currentOutbox()?.offer(db, 'm1', prepareMessage('__wkf_workflow_w', { runId: 'wrun_a' }))).toBe(true);
    });
    expect((await outbox.close()).map((s) => s.id)).toEqual(['m1']);
  });
});
