import type { World } from '@workflow/world';
import { expect } from 'vitest';
import type { Area } from '../area.js';
import { createRun } from '../fixtures.js';
import { allBytes, bytesEqual, delay, newRunId, randomPayload, readAll, readWithin, text, ulid } from '../util.js';

const streamName = () => `strm_${ulid()}_user`;

async function writeAll(world: World, name: string, runId: string, chunks: (string | Uint8Array)[]): Promise<void> {
  for (const c of chunks) await world.writeToStream(name, runId, c);
}

const numbered = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `chunk-${from + i}`);

/** Reads `n` chunks (failing after `ms`), leaving the reader open. */
async function take(reader: ReadableStreamDefaultReader<Uint8Array>, n: number, ms = 20_000): Promise<string[]> {
  const out: string[] = [];
  const deadline = Date.now() + ms;
  while (out.length < n) {
    const r = await readWithin(reader, Math.max(1, deadline - Date.now()));
    if (r === 'timeout') throw new Error(`received ${out.length} of ${n} chunks within ${ms} ms: ${JSON.stringify(out)}`);
    if (r.done) throw new Error(`stream closed after ${out.length} of ${n} chunks: ${JSON.stringify(out)}`);
    out.push(text(r.value));
  }
  return out;
}

async function expectEnd(reader: ReadableStreamDefaultReader<Uint8Array>, ms = 20_000): Promise<void> {
  const r = await readWithin(reader, ms);
  if (r === 'timeout') throw new Error(`stream did not close within ${ms} ms`);
  if (!r.done) throw new Error(`expected the end of the stream, got another chunk: ${text(r.value)}`);
}

async function expectQuiet(reader: ReadableStreamDefaultReader<Uint8Array>, ms: number): Promise<void> {
  const r = await readWithin(reader, ms);
  if (r !== 'timeout') throw new Error(r.done ? 'the stream closed, expected it to stay open' : `unexpected chunk ${text(r.value)}`);
}

/** docs/world-contract.md §2.8 (streamer). */
export function streamerArea({ must, should, capabilities }: Area): void {
  const off = capabilities.streamer ? false : 'capability streamer is off';
  const noSecond = off || (capabilities.multipleInstances ? false : 'capability multipleInstances is off');

  must('chunks come back in write order, strings as UTF-8, and the stream ends after closeStream', async ({ world }) => {
    const runId = await createRun(world);
    const name = streamName();
    await writeAll(world, name, runId, ['a', new TextEncoder().encode('b'), 'ü€𝄞', 'd']);
    await world.closeStream(name, runId);
    const chunks = await readAll(await world.readFromStream(name));
    expect(chunks.map(text).join('')).toBe('abü€𝄞d');
    for (const c of chunks) expect(c).toBeInstanceOf(Uint8Array);
  }, { skip: off });

  should('each enqueued value is exactly one stored chunk', async ({ world }) => {
    const runId = await createRun(world);
    const name = streamName();
    await writeAll(world, name, runId, ['one', 'two', 'three']);
    await world.closeStream(name, runId);
    expect((await readAll(await world.readFromStream(name))).map(text)).toEqual(['one', 'two', 'three']);
  }, { skip: off });

  must('a reader opened before the writes tails them live and ends at closeStream', async ({ world }) => {
    const runId = await createRun(world);
    const name = streamName();
    await world.writeToStream(name, runId, 'chunk-0');
    const reader = (await world.readFromStream(name)).getReader();
    try {
      expect(await take(reader, 1)).toEqual(['chunk-0']);
      for (const c of numbered(4, 1)) {
        await world.writeToStream(name, runId, c);
        await delay(20);
      }
      expect(await take(reader, 4)).toEqual(numbered(4, 1));
      await world.closeStream(name, runId);
      await expectEnd(reader);
    } finally {
      await reader.cancel().catch(() => {});
    }
  }, { skip: off });

  must('startIndex skips that many chunks; a negative one counts back from the end at open time', async ({ world }) => {
    const runId = await createRun(world);
    const name = streamName();
    await writeAll(world, name, runId, numbered(10));
    await world.closeStream(name, runId);
    expect((await readAll(await world.readFromStream(name, 4))).map(text)).toEqual(numbered(6, 4));
    expect((await readAll(await world.readFromStream(name, -3))).map(text)).toEqual(numbered(3, 7));
    expect((await readAll(await world.readFromStream(name, -20))).map(text)).toEqual(numbered(10));
  }, { skip: off });

  must('a negative startIndex on an open stream is resolved once: later chunks all follow', async ({ world }) => {
    const runId = await createRun(world);
    const name = streamName();
    await writeAll(world, name, runId, numbered(5));
    const reader = (await world.readFromStream(name, -2)).getReader();
    try {
      expect(await take(reader, 2)).toEqual(['chunk-3', 'chunk-4']);
      await writeAll(world, name, runId, numbered(3, 5));
      expect(await take(reader, 3)).toEqual(numbered(3, 5));
      await world.closeStream(name, runId);
      await expectEnd(reader);
    } finally {
      await reader.cancel().catch(() => {});
    }
  }, { skip: off });

  must('a startIndex past the end waits for that index and still ends at closeStream', async ({ world }) => {
    const runId = await createRun(world);
    const name = streamName();
    await writeAll(world, name, runId, numbered(3));
    const reader = (await world.readFromStream(name, 5)).getReader();
    try {
      await expectQuiet(reader, 500);
      await writeAll(world, name, runId, numbered(4, 3));
      expect(await take(reader, 2)).toEqual(['chunk-5', 'chunk-6']);
      await world.closeStream(name, runId);
      await expectEnd(reader);
    } finally {
      await reader.cancel().catch(() => {});
    }
  }, { skip: off });

  must('an unknown stream reads as open and empty; cancel() releases it', async ({ world }) => {
    const name = streamName();
    const reader = (await world.readFromStream(name)).getReader();
    await expectQuiet(reader, 700);
    await reader.cancel();
    expect(await world.getStreamInfo(name, newRunId())).toEqual({ tailIndex: -1, done: false });
    const page = await world.getStreamChunks(name, newRunId());
    expect(page.data).toEqual([]);
    expect(page.done).toBe(false);
    expect(page.hasMore).toBe(false);
  }, { skip: off });

  must('closeStream is idempotent; data written after it is ignored by readers and counts', async ({ world }) => {
    const runId = await createRun(world);
    const name = streamName();
    await writeAll(world, name, runId, numbered(2));
    await world.closeStream(name, runId);
    await world.closeStream(name, runId);
    await world.writeToStream(name, runId, 'late').catch(() => {});
    await world.writeToStreamMulti?.(name, runId, ['later', 'latest']).catch(() => {});
    expect((await readAll(await world.readFromStream(name))).map(text)).toEqual(numbered(2));
    expect(await world.getStreamInfo(name, runId)).toEqual({ tailIndex: 1, done: true });
    const page = await world.getStreamChunks(name, runId);
    expect(page.data.map((c) => text(c.data))).toEqual(numbered(2));
    expect(page.done).toBe(true);
  }, { skip: off });

  must('getStreamChunks pages a snapshot: indexes, hasMore, cursor null at the end, done after close', async ({ world }) => {
    const runId = await createRun(world);
    const name = streamName();
    await writeAll(world, name, runId, numbered(25));
    const pages = [];
    let cursor: string | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await world.getStreamChunks(name, runId, { limit: 10, ...(cursor ? { cursor } : {}) });
      pages.push(page);
      if (!page.hasMore) break;
      expect(page.cursor).toEqual(expect.any(String));
      cursor = page.cursor!;
    }
    expect(pages.map((p) => p.data.length)).toEqual([10, 10, 5]);
    expect(pages.map((p) => p.hasMore)).toEqual([true, true, false]);
    expect(pages.at(-1)?.cursor).toBeNull();
    expect(pages.every((p) => p.done === false)).toBe(true);
    const all = pages.flatMap((p) => p.data);
    expect(all.map((c) => c.index)).toEqual(Array.from({ length: 25 }, (_, i) => i));
    expect(all.map((c) => text(c.data))).toEqual(numbered(25));
    for (const c of all) expect(c.data).toBeInstanceOf(Uint8Array);
    await world.closeStream(name, runId);
    const closed = await world.getStreamChunks(name, runId, { limit: 1000 });
    expect(closed.done).toBe(true);
    expect(closed.data.length).toBe(25);
  }, { skip: off });

  should('getStreamChunks defaults to pages of 100', async ({ world }) => {
    const runId = await createRun(world);
    const name = streamName();
    await world.writeToStreamMulti?.(name, runId, numbered(150));
    if (!world.writeToStreamMulti) await writeAll(world, name, runId, numbered(150));
    const page = await world.getStreamChunks(name, runId);
    expect(page.data.length).toBe(100);
    expect(page.hasMore).toBe(true);
  }, { skip: off });

  must('getStreamInfo: tailIndex = chunks − 1 and done, agreeing with what readFromStream delivers', async ({ world }) => {
    const runId = await createRun(world);
    const name = streamName();
    await writeAll(world, name, runId, numbered(7));
    expect(await world.getStreamInfo(name, runId)).toEqual({ tailIndex: 6, done: false });
    await world.closeStream(name, runId);
    expect(await world.getStreamInfo(name, runId)).toEqual({ tailIndex: 6, done: true });
    expect((await readAll(await world.readFromStream(name))).length).toBe(7);
  }, { skip: off });

  must('writeToStreamMulti (when implemented) appends in array order, one index per element', async ({ world, skip }) => {
    if (!world.writeToStreamMulti) return skip('writeToStreamMulti is not implemented (optional)');
    const runId = await createRun(world);
    const name = streamName();
    await world.writeToStream(name, runId, 'chunk-0');
    await world.writeToStreamMulti(name, runId, ['chunk-1', new TextEncoder().encode('chunk-2'), 'chunk-3']);
    await world.writeToStream(name, runId, 'chunk-4');
    await world.closeStream(name, runId);
    expect(await world.getStreamInfo(name, runId)).toEqual({ tailIndex: 4, done: true });
    expect((await readAll(await world.readFromStream(name))).map(text)).toEqual(numbered(5));
  }, { skip: off });

  must('listStreamsByRunId lists each stream written with that run id once', async ({ world }) => {
    const runId = await createRun(world);
    const other = await createRun(world);
    const names = [streamName(), streamName(), streamName()];
    for (const n of names) await writeAll(world, n, runId, ['x', 'y']);
    await world.closeStream(names[0]!, runId);
    await world.writeToStream(streamName(), other, 'z');
    expect([...(await world.listStreamsByRunId(runId))].sort()).toEqual([...names].sort());
  }, { skip: off });

  must('writes do not require a run row (health checks write with a fabricated run id)', async ({ world }) => {
    const name = `__health_check__${ulid()}`;
    const runId = newRunId();
    await world.writeToStream(name, runId, JSON.stringify({ ok: true }));
    await world.closeStream(name, runId);
    expect((await readAll(await world.readFromStream(name))).map(text)).toEqual(['{"ok":true}']);
  }, { skip: off });

  must('chunks are byte-exact: every byte value, U+0000 in strings, and a 1 MiB chunk', async ({ world }) => {
    const runId = await createRun(world);
    const name = streamName();
    const big = randomPayload(1024 * 1024);
    await world.writeToStream(name, runId, allBytes());
    await world.writeToStream(name, runId, 'nul\u0000inside\u0000');
    await world.writeToStream(name, runId, big);
    await world.closeStream(name, runId);
    const chunks = await readAll(await world.readFromStream(name));
    const joined = Buffer.concat(chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength)));
    const expected = Buffer.concat([Buffer.from(allBytes()), Buffer.from('nul\u0000inside\u0000'), Buffer.from(big)]);
    expect(joined.equals(expected)).toBe(true);
    const page = await world.getStreamChunks(name, runId);
    expect(bytesEqual(page.data[0]?.data, allBytes())).toBe(true);
    expect(bytesEqual(page.data[2]?.data, big)).toBe(true);
  }, { skip: off });

  must('20 concurrent writers to one stream get 20 gap-free indexes', async ({ world }) => {
    const runId = await createRun(world);
    const name = streamName();
    await Promise.all(numbered(20).map((c) => world.writeToStream(name, runId, c)));
    expect(await world.getStreamInfo(name, runId)).toEqual({ tailIndex: 19, done: false });
    await world.closeStream(name, runId);
    const got = (await readAll(await world.readFromStream(name))).map(text);
    expect([...got].sort()).toEqual([...numbered(20)].sort());
    const page = await world.getStreamChunks(name, runId, { limit: 100 });
    expect(page.data.map((c) => c.index)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  }, { skip: off });

  must('cancel() on a tailing reader resolves; the stream stays usable', async ({ world }) => {
    const runId = await createRun(world);
    const name = streamName();
    await world.writeToStream(name, runId, 'chunk-0');
    const reader = (await world.readFromStream(name)).getReader();
    expect(await take(reader, 1)).toEqual(['chunk-0']);
    const pending = reader.read();
    await reader.cancel();
    expect((await pending).done).toBe(true);
    await world.writeToStream(name, runId, 'chunk-1');
    await world.closeStream(name, runId);
    expect((await readAll(await world.readFromStream(name))).map(text)).toEqual(numbered(2));
  }, { skip: off });

  must('10 readers tailing one stream each receive every chunk', async ({ world }) => {
    const runId = await createRun(world);
    const name = streamName();
    const readers = await Promise.all(Array.from({ length: 10 }, async () => (await world.readFromStream(name)).getReader()));
    try {
      const results = Promise.all(readers.map((r) => take(r, 8)));
      for (const c of numbered(8)) await world.writeToStream(name, runId, c);
      for (const got of await results) expect(got).toEqual(numbered(8));
      await world.closeStream(name, runId);
      await Promise.all(readers.map((r) => expectEnd(r)));
    } finally {
      await Promise.all(readers.map((r) => r.cancel().catch(() => {})));
    }
  }, { skip: off });

  must('a reader on another instance tails chunks written through the first one', async ({ world, worlds }) => {
    const other = await worlds.create();
    const runId = await createRun(world);
    const name = streamName();
    await world.writeToStream(name, runId, 'chunk-0');
    const reader = (await other.readFromStream(name)).getReader();
    try {
      expect(await take(reader, 1)).toEqual(['chunk-0']);
      await writeAll(world, name, runId, numbered(3, 1));
      expect(await take(reader, 3)).toEqual(numbered(3, 1));
      await world.closeStream(name, runId);
      await expectEnd(reader);
    } finally {
      await reader.cancel().catch(() => {});
    }
  }, { skip: noSecond });

  should('a zero-length chunk still takes an index', async ({ world }) => {
    const runId = await createRun(world);
    const name = streamName();
    await writeAll(world, name, runId, ['a', new Uint8Array(0), 'b']);
    expect((await world.getStreamInfo(name, runId)).tailIndex).toBe(2);
    await world.closeStream(name, runId);
    expect((await readAll(await world.readFromStream(name, 2))).map(text)).toEqual(['b']);
  }, { skip: off });
}
