import { afterEach, describe, expect, test } from 'vitest';
import type { PostgresWorld } from '../../../src/index.js';
import { adminSql, testWorld } from '../../helpers/db.js';
import { eventually, newStream, range, readAllText, text, uniqueApplicationName } from './helpers.js';

/**
 * The process's LISTEN connection is shared by every World with the same URL and named after the
 * first World that opened it; each test here closes its World so that the next one opens a
 * connection of its own, recognisable by its application_name.
 */
let open: PostgresWorld | undefined;
function listeningWorld(options: Parameters<typeof testWorld>[0] = {}) {
  const applicationName = uniqueApplicationName();
  open = testWorld({ applicationName, ...options });
  return { world: open, applicationName };
}
afterEach(async () => {
  await open?.close();
  open = undefined;
});

/** Runs `fn` with warnings silenced: the listener's loss and retry warnings are expected there. */
async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const level = process.env.WORKFLOW_POSTGRES_LOG_LEVEL;
  process.env.WORKFLOW_POSTGRES_LOG_LEVEL = 'error';
  try {
    return await fn();
  } finally {
    if (level === undefined) delete process.env.WORKFLOW_POSTGRES_LOG_LEVEL;
    else process.env.WORKFLOW_POSTGRES_LOG_LEVEL = level;
  }
}

async function backends(applicationName: string): Promise<{ pid: number; application_name: string }[]> {
  return adminSql()<{ pid: number; application_name: string }[]>`
    select pid, application_name from pg_stat_activity where application_name like ${applicationName + '%'}`;
}
const listenPids = async (applicationName: string) =>
  (await backends(applicationName)).filter((b) => b.application_name.endsWith(':listen')).map((b) => b.pid);

describe('streamer: one LISTEN connection per process', () => {
  test('1,000 concurrent readers share one LISTEN connection', async () => {
    const { world, applicationName } = listeningWorld();
    const streams = Array.from({ length: 50 }, newStream);
    const readers = await Promise.all(
      streams.flatMap(({ name }) => Array.from({ length: 20 }, () => world.readFromStream(name))),
    );
    expect(readers).toHaveLength(1_000);
    const reads = readers.map(readAllText);
    await eventually(async () => (await listenPids(applicationName)).length === 1);

    for (const { name, runId } of streams) {
      await world.writeToStream(name, runId, name);
      await world.closeStream(name, runId);
    }
    const results = await Promise.all(reads);
    results.forEach((got, i) => expect(got).toEqual([streams[Math.floor(i / 20)]!.name]));

    const all = await backends(applicationName);
    expect(all.filter((b) => b.application_name.endsWith(':listen'))).toHaveLength(1);
    // the rest is the query pool (poolSize 5 in test Worlds)
    expect(all.length).toBeLessThanOrEqual(5 + 1);
  });

  test('cancelling the last reader releases the subscription (after its linger)', async () => {
    const { world, applicationName } = listeningWorld();
    const reader = (await world.readFromStream(newStream().name)).getReader();
    const pending = reader.read();
    await eventually(async () => (await listenPids(applicationName)).length === 1);
    await reader.cancel();
    expect((await pending).done).toBe(true);
    await eventually(async () => (await listenPids(applicationName)).length === 0, 200);
  });

  test('pg_terminate_backend on the LISTEN connection mid-read: readers finish with no loss and no duplicates', async () => {
    const { world, applicationName } = listeningWorld();
    const { name, runId } = newStream();
    await world.writeToStreamMulti!(name, runId, range(0, 100));
    const received: string[][] = [[], [], []];
    const reads = received.map(async (into) => {
      for await (const v of (await world.readFromStream(name)) as unknown as AsyncIterable<Uint8Array>) {
        into.push(text(v));
        if (into.length % 50 === 0) await new Promise((r) => setTimeout(r, 1)); // a slowish consumer
      }
    });
    await eventually(() => received.every((r) => r.length === 100)); // caught up, now waiting
    const [pid] = await listenPids(applicationName);
    expect(pid).toBeDefined();

    await quietly(async () => {
      await adminSql()`select pg_terminate_backend(${pid!})`;
      // written while the listener is down or reconnecting: found by polling or by the resync
      for (let i = 100; i < 400; i += 20) {
        await world.writeToStreamMulti!(name, runId, range(i, i + 20));
        await new Promise((r) => setTimeout(r, 10));
      }
      await eventually(async () => {
        const pids = await listenPids(applicationName);
        return pids.length === 1 && pids[0] !== pid;
      });
    });
    await world.writeToStreamMulti!(name, runId, range(400, 500));
    await world.closeStream(name, runId);
    await Promise.all(reads);
    for (const got of received) expect(got).toEqual(range(0, 500));
  });

  test('with the LISTEN connection unreachable, readers complete by polling', () =>
    quietly(async () => {
      const { world } = listeningWorld({ listenConnectionString: 'postgres://postgres@127.0.0.1:1/postgres' });
      const { name, runId } = newStream();
      const readers = await Promise.all([0, -1, 3].map((s) => world.readFromStream(name, s)));
      const reads = readers.map(readAllText);
      for (let i = 0; i < 10; i++) {
        await world.writeToStream(name, runId, String(i));
        await new Promise((r) => setTimeout(r, 20));
      }
      await world.closeStream(name, runId);
      expect(await Promise.all(reads)).toEqual([range(0, 10), range(0, 10), range(3, 10)]);
    }));
});
