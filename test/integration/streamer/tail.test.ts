import { describe, expect, test } from 'vitest';
import { testWorld } from '../../helpers/db.js';
import { newStream, range, readAllText } from './helpers.js';

describe('streamer: live tail', () => {
  test('10,000 chunks written while 5 readers tail from 0, 17, -1, -100 and past the end', async () => {
    const world = testWorld();
    const { name, runId } = newStream();
    const total = 10_000;
    const before = 1_000; // written before the readers open: fixes what -1 and -100 resolve to
    for (let i = 0; i < before; i += 100) await world.writeToStreamMulti!(name, runId, range(i, i + 100));

    const starts = [0, 17, -1, -100, 5_000];
    const readers = await Promise.all(starts.map((s) => world.readFromStream(name, s)));
    const reads = readers.map(readAllText);

    // the rest arrives live, in batches of varying size, some through the single-chunk call
    let next = before;
    let batch = 0;
    while (next < total) {
      const size = Math.min(1 + ((batch * 37) % 64), total - next);
      if (size === 1) await world.writeToStream(name, runId, String(next));
      else await world.writeToStreamMulti!(name, runId, range(next, next + size));
      next += size;
      // now and then let the readers catch up, so they also wait for notifications
      if (++batch % 25 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    await world.closeStream(name, runId);

    const results = await Promise.all(reads);
    const resolved = [0, 17, before - 1, before - 100, 5_000];
    resolved.forEach((from, i) => {
      const got = results[i]!;
      // compare lengths first so a failure reports a number, not a 10,000-line diff
      expect(got.length, `reader from ${starts[i]}`).toBe(total - from);
      expect(got, `reader from ${starts[i]}`).toEqual(range(from, total));
    });
    expect(await world.getStreamInfo(name, runId)).toEqual({ tailIndex: total - 1, done: true });
  });
});
