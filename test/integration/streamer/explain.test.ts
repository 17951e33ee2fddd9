import { expect, test } from 'vitest';
import { selectsWithoutIndex } from '../../helpers/explain.js';
import { newStream, readAll } from './helpers.js';

/** Every read the streamer issues is backed by an index. */
test('streamer reads use indexes', async () => {
  const { name, runId } = newStream();
  const offenders = await selectsWithoutIndex(
    async (world) => {
      await world.writeToStreamMulti!(name, runId, ['a', 'b', 'c']);
      await world.closeStream(name, runId);
    },
    async (world) => {
      await readAll(await world.readFromStream(name));
      await readAll(await world.readFromStream(name, -2));
      const page = await world.getStreamChunks(name, runId, { limit: 1 });
      await world.getStreamChunks(name, runId, { cursor: page.cursor! });
      await world.getStreamInfo(name, runId);
      await world.listStreamsByRunId(runId);
    },
    7,
  );
  expect(offenders).toEqual([]);
});
