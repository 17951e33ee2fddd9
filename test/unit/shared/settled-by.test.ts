import { describe, expect, test } from 'vitest';
import { settledBy } from '../../../src/shared/settled-by.js';

describe('shutdown deadlines', () => {
  test('settledBy: true for what settles in time (rejections included), false at the deadline, true for nothing', async () => {
    expect(await settledBy(undefined, Date.now())).toBe(true);
    expect(await settledBy(Promise.resolve(1), Date.now() + 60_000)).toBe(true);
    expect(await settledBy(Promise.reject(new Error('x')), Date.now() + 60_000)).toBe(true);
    const never = new Promise(() => {});
    expect(await settledBy(never, Date.now() + 20)).toBe(false);
    expect(await settledBy(never, Date.now() - 1_000)).toBe(false); // a passed deadline does not wait
  });
});
