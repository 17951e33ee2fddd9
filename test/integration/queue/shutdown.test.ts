import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import { startTcpProxy } from '../../helpers/tcp-proxy.js';
import { queueWorld, waitFor, WORKFLOW } from './helpers.js';


describe('queue shutdown', () => {
  test("stop() returns when the delivery's result statement hangs on a connection that stopped answering", async () => {
    const proxy = await startTcpProxy();
    const world = queueWorld({ connectionString: proxy.url, shutdownTimeoutMs: 500 });
    let finish!: () => void;
    const handled: string[] = [];
    world.createQueueHandler(WORKFLOW, async (message) => {
      handled.push((message as { runId: string }).runId);
      await new Promise<void>((resolve) => (finish = resolve));
    });
    await world.start();
    await world.queue(`${WORKFLOW}wf`, { runId: 'wrun_hung' });
    await waitFor(() => handled.length === 1, 'the delivery');
    proxy.freeze(); // the result's statement will never be answered
    finish();
    await sleep(50);
    // bounded by shutdownTimeoutMs, the lease release grace (2 s) and the pool's end (5 s),
    // far below the 15 s queue deadline that would otherwise be the first thing to give up
    const stopped = await Promise.race([world.stop().then(() => 'stopped'), sleep(14_000).then(() => 'still stopping')]);
    expect(stopped).toBe('stopped');
  }, 60_000);
});
