import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import { startTcpProxy } from '../../helpers/tcp-proxy.js';
import { queueWorld, STEP, WORKFLOW } from './helpers.js';


describe('idle cost', () => {
  test('a started World with nothing to do holds at most 3 connections and issues at most 2 statements per poll', async () => {
    const proxy = await startTcpProxy();
    const pollMs = 250;
    const world = queueWorld({ connectionString: proxy.url, queuePollMs: pollMs });
    world.createQueueHandler(WORKFLOW, async () => {});
    world.createQueueHandler(STEP, async () => {});
    await world.start();
    await sleep(500); // settled: migrated, listening, first claim round done
    const before = proxy.statements();
    const startedAt = Date.now();
    await sleep(2_000);
    const statements = proxy.statements() - before;
    const polls = Math.ceil((Date.now() - startedAt) / pollMs) + 1;
    // counted, not timed: a slow machine polls less, never more. Each poll is a claim and, when
    // nothing is due, the look-up of the next due message.
    expect(statements).toBeGreaterThan(0);
    expect(statements).toBeLessThanOrEqual(2 * polls);
    expect(proxy.openConnections()).toBeLessThanOrEqual(3);
  });
});
