import postgres from 'postgres';
import { expect, test } from 'vitest';
import { createWorld } from '../../../src/index.js';
import { databaseUrl, freshSchema } from '../../helpers/db.js';
import { newStream, readAll } from './helpers.js';

/**
 * Every read the streamer issues is backed by an index: each captured statement is EXPLAINed
 * with sequential scans disabled, so a Seq Scan in the plan means no index can serve it.
 */
test('streamer reads use indexes', async () => {
  const captured: { query: string; params: unknown[] }[] = [];
  const sql = postgres(databaseUrl, {
    max: 1,
    onnotice: () => {},
    debug: (_connection, query, params) => captured.push({ query, params: params as unknown[] }),
  });
  const world = createWorld({ sql, schema: freshSchema('explain') });
  try {
    const { name, runId } = newStream();
    await world.writeToStreamMulti!(name, runId, ['a', 'b', 'c']);
    await world.closeStream(name, runId);
    captured.length = 0;

    await readAll(await world.readFromStream(name));
    await readAll(await world.readFromStream(name, -2));
    const page = await world.getStreamChunks(name, runId, { limit: 1 });
    await world.getStreamChunks(name, runId, { cursor: page.cursor! });
    await world.getStreamInfo(name, runId);
    await world.listStreamsByRunId(runId);

    const selects = captured.filter((c) => /^\s*select/i.test(c.query));
    expect(selects.length).toBeGreaterThanOrEqual(7);
    const offenders: string[] = [];
    await sql.begin(async (tx) => {
      await tx`set local enable_seqscan = off`;
      for (const { query, params } of selects) {
        const rows = await tx.unsafe(`explain ${query}`, params as never[]);
        const plan = rows.map((r) => Object.values(r)[0]).join('\n');
        if (/Seq Scan/.test(plan)) offenders.push(`${query}\n${plan}`);
      }
    });
    expect(offenders).toEqual([]);
  } finally {
    await world.close();
    await sql.end();
  }
});
