import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { databaseUrl, freshSchema, testWorld } from '../../helpers/db.js';
import { newStream } from './helpers.js';

const fixture = fileURLToPath(new URL('./fixtures/read-slowly.mjs', import.meta.url));
const built = fileURLToPath(new URL('../../../dist/index.js', import.meta.url));

/**
 * The bound: a reader holds one page (at most 100 chunks and 1 MiB, or one larger chunk).
 * postgres.js receives bytea as hex text, so parsing a page briefly takes about 5 MiB (the
 * protocol buffer and the hex strings are twice the data); measured growth is 1-3 MiB. 16 MiB
 * leaves more than 3x headroom over that and is still below the 20 MiB the stream holds, so a
 * reader that buffered the whole stream (as @workflow/world-postgres 4.3.7 does: ~39 MiB)
 * cannot pass. Measured as retained memory (V8 heap plus ArrayBuffers after a forced
 * collection), not RSS: RSS also depends on the allocator and the Node version, which made the
 * same reader pass or fail by machine.
 */
const BOUND = 16 << 20;
const STREAM_BYTES = 20 << 20;

describe('streamer: reader memory', () => {
  test('a slow consumer of a 20 MiB stream retains less than 16 MiB more while it reads', async () => {
    expect(existsSync(built), 'dist/ is missing: run `npm run build` (npm test does)').toBe(true);
    const schema = freshSchema();
    const world = testWorld({ schema });
    const { name, runId } = newStream();
    // chunk sizes as the runtime sees them from files, fetch bodies and text: 1 B to 64 KiB
    let written = 0;
    let seed = 7;
    while (written < STREAM_BYTES) {
      const batch: Uint8Array[] = [];
      for (let i = 0; i < 32 && written < STREAM_BYTES; i++) {
        seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
        const size = Math.min(1 + (seed % (64 << 10)), STREAM_BYTES - written);
        batch.push(new Uint8Array(size).fill(seed % 256));
        written += size;
      }
      await world.writeToStreamMulti!(name, runId, batch);
    }
    await world.closeStream(name, runId);

    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--expose-gc', fixture, databaseUrl, schema, name, '1'],
      { maxBuffer: 1 << 20 },
    );
    const report = JSON.parse(stdout) as { growth: number; bytes: number; chunks: number };
    expect(report.bytes).toBe(STREAM_BYTES);
    expect(report.chunks).toBeGreaterThan(600); // ~32 KiB on average: many pages were read
    expect(report.growth).toBeLessThan(BOUND);
  });
});
