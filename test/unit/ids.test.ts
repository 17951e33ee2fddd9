import { describe, expect, test } from 'vitest';
import { newMessageId, newRunId, newUlid } from '../../src/ids.js';

describe('ids', () => {
  test('ULIDs are well-formed, strictly increasing, and random across milliseconds', async () => {
    const ids = Array.from({ length: 2_000 }, () => newUlid());
    for (const id of ids) expect(id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    // ids from different milliseconds draw fresh randomness: their random parts differ
    const randoms = new Set<string>();
    for (let i = 0; i < 5; i++) {
      randoms.add(newUlid().slice(10));
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(randoms.size).toBe(5);
    expect(newRunId()).toMatch(/^wrun_[0-9A-Z]{26}$/);
    expect(newMessageId()).toMatch(/^msg_[0-9A-Z]{26}$/);
  });
});
