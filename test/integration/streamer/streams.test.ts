import { describe, expect, test } from 'vitest';
import { adminSql, freshSchema, testWorld } from '../../helpers/db.js';
import { newStream, range, readAll, readAllText, text } from './helpers.js';

const enc = (s: string) => new TextEncoder().encode(s);

describe('streamer: write and read', () => {
  test('strings are stored as UTF-8, bytes exactly, one value per chunk, in order', async () => {
    const world = testWorld();
    const { name, runId } = newStream();
    await world.writeToStream(name, runId, 'héllo ✓');
    await world.writeToStream(name, runId, new Uint8Array([0, 0, 255, 0]));
    await world.writeToStreamMulti!(name, runId, ['a', new Uint8Array([0]), 'c\u0000d']);
    await world.closeStream(name, runId);
    const values = await readAll(await world.readFromStream(name));
    expect(values).toEqual([enc('héllo ✓'), new Uint8Array([0, 0, 255, 0]), enc('a'), new Uint8Array([0]), enc('c\u0000d')]);
    // every value owns its buffer: a consumer may transfer it
    for (const v of values) expect(v.byteLength).toBe(v.buffer.byteLength);
    // the runtime's writable waits for this timer on every chunk: no added latency
    expect(world.streamFlushIntervalMs).toBe(0);
  });

  test('a chunk that is a view into a larger buffer stores exactly its own bytes, every byte value', async () => {
    const world = testWorld();
    const { name, runId } = newStream();
    const backing = new Uint8Array(1024).map((_, i) => i % 256);
    const view = backing.subarray(3, 3 + 256 + 7); // odd offset and length: all 256 values, some twice
    await world.writeToStream(name, runId, view); // one chunk: encoded from the caller's bytes, uncopied
    await world.writeToStreamMulti!(name, runId, [backing.subarray(1000), backing.subarray(0, 0), backing.subarray(5, 6)]);
    await world.closeStream(name, runId);
    const values = await readAll(await world.readFromStream(name));
    expect(values).toEqual([new Uint8Array(view), new Uint8Array(backing.subarray(1000)), new Uint8Array([5])]);
  });

  test('works without prepared statements (prepare: false, as behind a transaction pooler)', async () => {
    const world = testWorld({ prepare: false });
    const { name, runId } = newStream();
    await world.writeToStreamMulti!(name, runId, ['a', new Uint8Array([0, 1]), '']);
    await world.writeToStream(name, runId, 'b');
    await world.closeStream(name, runId);
    expect(await readAll(await world.readFromStream(name, -4))).toEqual([enc('a'), new Uint8Array([0, 1]), enc('b')]);
    expect((await world.getStreamChunks(name, runId)).data.map((c) => c.index)).toEqual([0, 1, 2, 3]);
    expect(await world.getStreamInfo(name, runId)).toEqual({ tailIndex: 3, done: true });
    expect(await world.listStreamsByRunId(runId)).toEqual([name]);
  });

  test('a large chunk (3 MiB, above the page byte budget) round-trips whole', async () => {
    const world = testWorld();
    const { name, runId } = newStream();
    const big = new Uint8Array(3 << 20).map((_, i) => i % 251);
    await world.writeToStreamMulti!(name, runId, ['x', big, 'y']);
    await world.closeStream(name, runId);
    const values = await readAll(await world.readFromStream(name));
    expect(values.map((v) => v.byteLength)).toEqual([1, 3 << 20, 1]);
    expect(Buffer.from(values[1]!).equals(Buffer.from(big))).toBe(true);
  });

  test('empty chunks count as indexes but are not enqueued', async () => {
    const world = testWorld();
    const { name, runId } = newStream();
    await world.writeToStreamMulti!(name, runId, ['a', '', new Uint8Array(0), 'b']);
    await world.writeToStream(name, runId, '');
    await world.writeToStream(name, runId, 'c');
    await world.closeStream(name, runId);
    expect(await readAllText(await world.readFromStream(name))).toEqual(['a', 'b', 'c']);
    // start indexes still address stored chunks, empty ones included
    expect(await readAllText(await world.readFromStream(name, 3))).toEqual(['b', 'c']);
    expect(await readAllText(await world.readFromStream(name, -2))).toEqual(['c']);
    expect(await world.getStreamInfo(name, runId)).toEqual({ tailIndex: 5, done: true });
    const page = await world.getStreamChunks(name, runId);
    expect(page.data.map((c) => [c.index, text(c.data)])).toEqual([
      [0, 'a'], [1, ''], [2, ''], [3, 'b'], [4, ''], [5, 'c'],
    ]);
  });

  test('negative and past-the-end start indexes on a closed stream', async () => {
    const world = testWorld();
    const { name, runId } = newStream();
    await world.writeToStreamMulti!(name, runId, range(0, 10));
    await world.closeStream(name, runId);
    expect(await readAllText(await world.readFromStream(name, -3))).toEqual(['7', '8', '9']);
    expect(await readAllText(await world.readFromStream(name, -100))).toEqual(range(0, 10));
    expect(await readAllText(await world.readFromStream(name, 9))).toEqual(['9']);
    expect(await readAllText(await world.readFromStream(name, 10))).toEqual([]);
    expect(await readAllText(await world.readFromStream(name, 50))).toEqual([]);
  });

  test('a closed empty stream ends at once; an unknown or open empty stream waits', async () => {
    const world = testWorld();
    const closed = newStream();
    await world.closeStream(closed.name, closed.runId);
    expect(await readAll(await world.readFromStream(closed.name))).toEqual([]);
    expect(await world.getStreamInfo(closed.name, closed.runId)).toEqual({ tailIndex: -1, done: true });

    const unknown = newStream();
    expect(await world.getStreamInfo(unknown.name, unknown.runId)).toEqual({ tailIndex: -1, done: false });
    expect(await world.getStreamChunks(unknown.name, unknown.runId)).toEqual({ data: [], cursor: null, hasMore: false, done: false });
    const reader = (await world.readFromStream(unknown.name)).getReader();
    let settled = false;
    const first = reader.read().then((r) => ((settled = true), r));
    // the reader waits: nothing is there yet
    await world.getStreamInfo(unknown.name, unknown.runId);
    expect(settled).toBe(false);
    await world.writeToStream(unknown.name, unknown.runId, 'late');
    expect(text((await first).value!)).toBe('late');
    await world.closeStream(unknown.name, unknown.runId);
    expect((await reader.read()).done).toBe(true);
  });

  test('a reader past the end waits for its index, and a close ends it', async () => {
    const world = testWorld();
    const { name, runId } = newStream();
    await world.writeToStream(name, runId, '0');
    const ahead = readAllText(await world.readFromStream(name, 3));
    const farAhead = readAllText(await world.readFromStream(name, 100));
    await world.writeToStreamMulti!(name, runId, ['1', '2', '3', '4']);
    await world.closeStream(name, runId);
    expect(await ahead).toEqual(['3', '4']);
    expect(await farAhead).toEqual([]);
  });

  test('writes after closeStream are ignored: not stored, not counted, not delivered; close is idempotent', async () => {
    const world = testWorld();
    const { name, runId } = newStream();
    await world.writeToStream(name, runId, 'a');
    await world.closeStream(name, runId);
    await expect(world.writeToStream(name, runId, 'late')).resolves.toBeUndefined();
    await expect(world.writeToStreamMulti!(name, runId, ['x', 'y'])).resolves.toBeUndefined();
    await expect(world.closeStream(name, runId)).resolves.toBeUndefined();
    expect(await readAllText(await world.readFromStream(name))).toEqual(['a']);
    expect(await world.getStreamInfo(name, runId)).toEqual({ tailIndex: 0, done: true });
    expect((await world.getStreamChunks(name, runId)).data).toHaveLength(1);
  });

  test('writeToStreamMulti([]) writes nothing; closeStream of a never-written stream closes it', async () => {
    const world = testWorld();
    const { name, runId } = newStream();
    await world.writeToStreamMulti!(name, runId, []);
    expect(await world.listStreamsByRunId(runId)).toEqual([]);
    await world.closeStream(name, runId);
    expect(await world.listStreamsByRunId(runId)).toEqual([name]);
  });

  test('cancel mid-read ends the read, also while it waits for data', async () => {
    const world = testWorld();
    const { name, runId } = newStream();
    await world.writeToStreamMulti!(name, runId, range(0, 300));
    const reader = (await world.readFromStream(name)).getReader();
    expect(text((await reader.read()).value!)).toBe('0');
    expect(text((await reader.read()).value!)).toBe('1');
    await reader.cancel();
    expect((await reader.read()).done).toBe(true);

    // a caught-up reader blocked in read() is released by cancel as well
    const waiting = (await world.readFromStream(name, 300)).getReader();
    const pending = waiting.read();
    await waiting.cancel();
    expect((await pending).done).toBe(true);
    // later writes reach nobody and break nothing
    await world.writeToStream(name, runId, 'after');
    expect(await world.getStreamInfo(name, runId)).toEqual({ tailIndex: 300, done: false });
  });

  test('closing the World ends its live readers with an error', async () => {
    const world = testWorld();
    const { name } = newStream();
    const reader = (await world.readFromStream(name)).getReader();
    const pending = reader.read();
    await world.close();
    await expect(pending).rejects.toThrow(/closed/);
    await expect(world.readFromStream(name)).rejects.toThrow(/closed/);
  });

  test('bad arguments are 400s', async () => {
    const world = testWorld();
    const { name, runId } = newStream();
    await expect(world.readFromStream(name, 1.5)).rejects.toMatchObject({ status: 400 });
    await expect(world.writeToStream('', runId, 'x')).rejects.toMatchObject({ status: 400 });
    await expect(world.writeToStream(name, runId, 42 as never)).rejects.toMatchObject({ status: 400 });
    await expect(world.writeToStream('nul\u0000name', runId, 'x')).rejects.toMatchObject({ status: 400 });
    await expect(world.getStreamChunks(name, runId, { cursor: 'nonsense' })).rejects.toMatchObject({ status: 400 });
  });
});

describe('streamer: writes', () => {
  test('concurrent writers get gap-free indexes, each writer in its own order', async () => {
    const world = testWorld();
    const { name, runId } = newStream();
    const writers = ['a', 'b', 'c', 'd'].map(async (w) => {
      for (let i = 0; i < 25; i++) {
        if (i % 5 === 0) await world.writeToStreamMulti!(name, runId, [`${w}${i}`, `${w}${i}+`]);
        else await world.writeToStream(name, runId, `${w}${i}`);
      }
    });
    await Promise.all(writers);
    await world.closeStream(name, runId);
    const stored: { index: number; data: Uint8Array }[] = [];
    let cursor: string | undefined;
    do {
      const page = await world.getStreamChunks(name, runId, { limit: 7, cursor });
      stored.push(...page.data);
      cursor = page.cursor ?? undefined;
    } while (cursor);
    expect(stored.map((c) => c.index)).toEqual(range(0, 120).map(Number));
    const values = stored.map((c) => text(c.data));
    for (const w of ['a', 'b', 'c', 'd']) {
      const mine = values.filter((v) => v.startsWith(w));
      const expected = range(0, 25).flatMap((i) => (Number(i) % 5 === 0 ? [`${w}${i}`, `${w}${i}+`] : [`${w}${i}`]));
      expect(mine).toEqual(expected);
    }
    // the live reader path agrees with the paging path
    expect(await readAllText(await world.readFromStream(name))).toEqual(values);
  });

  test('a batch is all-or-nothing', async () => {
    const { world, schema } = worldWithSchema();
    const { name, runId } = newStream();
    await world.writeToStream(name, runId, 'first');
    // a real failure in the middle of the batch: a trigger that refuses one chunk
    const sql = adminSql();
    await sql.unsafe(`
      create function "${schema}".refuse_boom() returns trigger language plpgsql as $$
      begin
        if new.data = convert_to('boom', 'UTF8') then raise exception 'refused'; end if;
        return new;
      end $$;
      create trigger refuse_boom before insert on "${schema}".stream_chunks
        for each row execute function "${schema}".refuse_boom();`);
    await expect(world.writeToStreamMulti!(name, runId, ['ok1', 'ok2', 'boom', 'ok3'])).rejects.toThrow(/refused/);
    expect(await world.getStreamInfo(name, runId)).toEqual({ tailIndex: 0, done: false });
    await world.writeToStreamMulti!(name, runId, ['ok1', 'ok2']);
    await world.closeStream(name, runId);
    expect(await readAllText(await world.readFromStream(name))).toEqual(['first', 'ok1', 'ok2']);
  });

  test('a write sent again with the same chunk ids is recognised, not stored twice', async () => {
    const { world, schema } = worldWithSchema();
    const { name, runId } = newStream();
    await world.writeToStream(name, runId, 'warm-up'); // migrates the schema
    const sql = adminSql();
    const append = (ids: string[], data: Buffer, lengths: number[]) =>
      sql.unsafe(`select "${schema}".append_stream_chunks($1, $2, $3, $4, $5, false, 'unused', 'unused') as outcome`, [
        name, runId, ids, data.toString('base64'), lengths,
      ] as never[]);
    const ids = ['chnk_RETRY1', 'chnk_RETRY2'];
    expect((await append(ids, Buffer.from('xy'), [1, 1]))[0]!.outcome).toBe('ok');
    expect((await append(ids, Buffer.from('xy'), [1, 1]))[0]!.outcome).toBe('duplicate');
    await world.closeStream(name, runId);
    expect(await readAllText(await world.readFromStream(name))).toEqual(['warm-up', 'x', 'y']);
  });

  test('listStreamsByRunId lists every stream written with the run id, and only those', async () => {
    const world = testWorld();
    const { name, runId } = newStream();
    const other = newStream();
    // health checks write under a fabricated run id that has no run row
    await world.writeToStream(name, runId, 'a');
    await world.writeToStream(`${name}_bmFtZWQ`, runId, 'b');
    await world.writeToStream(other.name, other.runId, 'c');
    expect(await world.listStreamsByRunId(runId)).toEqual([name, `${name}_bmFtZWQ`]);
    expect(await world.listStreamsByRunId('wrun_unknown')).toEqual([]);
  });

  test('health-check streams expire ten minutes after their last write', async () => {
    const { world, schema } = worldWithSchema();
    const old = `__health_check__${newStream().runId.slice(5)}`;
    await world.writeToStream(old, 'wrun_fabricated', '{"ok":true}');
    await world.closeStream(old, 'wrun_fabricated');
    await adminSql().unsafe(`update "${schema}".streams set updated_at = now() - interval '11 minutes' where stream_name = $1`, [old]);
    const fresh = `__health_check__${newStream().runId.slice(5)}`;
    await world.writeToStream(fresh, 'wrun_fabricated', '{"ok":true}');
    await world.closeStream(fresh, 'wrun_fabricated');
    expect(await world.getStreamInfo(old, 'wrun_fabricated')).toEqual({ tailIndex: -1, done: false });
    expect(await world.getStreamInfo(fresh, 'wrun_fabricated')).toEqual({ tailIndex: 0, done: true });
    const [row] = await adminSql().unsafe<{ n: string }[]>(
      `select count(*) as n from "${schema}".stream_chunks where stream_name = $1`, [old]);
    expect(Number(row!.n)).toBe(0);
  });
});

describe('streamer: getStreamChunks', () => {
  test('pages by cursor reconstruct the stream exactly once; default and maximum limits', async () => {
    const world = testWorld();
    const { name, runId } = newStream();
    await world.writeToStreamMulti!(name, runId, range(0, 1234));
    const first = await world.getStreamChunks(name, runId);
    expect(first.data).toHaveLength(100);
    expect(first.hasMore).toBe(true);
    expect(first.done).toBe(false);
    const big = await world.getStreamChunks(name, runId, { limit: 5000 });
    expect(big.data).toHaveLength(1000);

    for (const limit of [1, 33, 1000]) {
      const seen: number[] = [];
      const payloads: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      for (;;) {
        const page = await world.getStreamChunks(name, runId, { limit, cursor });
        pages++;
        seen.push(...page.data.map((c) => c.index));
        payloads.push(...page.data.map((c) => text(c.data)));
        expect(page.hasMore).toBe(page.cursor !== null);
        if (!page.cursor) break;
        cursor = page.cursor;
      }
      expect(seen).toEqual(range(0, 1234).map(Number));
      expect(payloads).toEqual(range(0, 1234));
      expect(pages).toBe(Math.ceil(1234 / limit));
    }

    // a snapshot: chunks written later appear from the cursor on; done follows closeStream
    const last = await world.getStreamChunks(name, runId, { limit: 1000, cursor: big.cursor! });
    expect(last.cursor).toBeNull();
    await world.writeToStream(name, runId, 'more');
    await world.closeStream(name, runId);
    const after = await world.getStreamChunks(name, runId, { limit: 1000, cursor: big.cursor! });
    expect(after.data.at(-1)).toMatchObject({ index: 1234 });
    expect(after.done).toBe(true);
  });
});

/** A World and its schema name, for tests that look at the tables themselves. */
function worldWithSchema() {
  const schema = freshSchema();
  return { world: testWorld({ schema }), schema };
}
