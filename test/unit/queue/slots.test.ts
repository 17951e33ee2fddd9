import { describe, expect, test } from 'vitest';
import { Slots } from '../../../src/queue/slots.js';

describe('Slots', () => {
  test('free slots count running deliveries and reservations; each release counts once', () => {
    const changes: number[] = [];
    const slots = new Slots<string>(3, (n) => changes.push(n));
    expect(slots.free()).toBe(3);
    const release = slots.reserve(2);
    expect(slots.free()).toBe(1);
    slots.occupy('a', 'delivery a');
    expect(slots.free()).toBe(0);
    expect(slots.reserve(1)).toBeTypeOf('function');
    expect(slots.free()).toBe(0); // over-reserved: never negative
    release();
    release(); // idempotent
    expect(slots.free()).toBe(1);
    expect(slots.get('a')).toBe('delivery a');
    expect(slots.deliveries()).toEqual(['delivery a']);
    expect(slots.vacate('a')).toBe(true);
    expect(slots.vacate('a')).toBe(false);
    expect(slots.inFlight).toBe(0);
    expect(changes).toEqual([1, 0]);
  });
});
