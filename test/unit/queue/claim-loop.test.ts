import { setImmediate as tick } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import { createClaimLoop } from '../../../src/queue/claim-loop.js';

/** A round the test lets finish: rounds are counted, never overlap, and sleep as long as asked. */
function controlledRounds(sleepMs = 60_000) {
  let running = 0;
  let overlapped = false;
  const finishers: (() => void)[] = [];
  const round = async () => {
    running++;
    if (running > 1) overlapped = true;
    await new Promise<void>((resolve) => finishers.push(resolve));
    running--;
    return sleepMs;
  };
  return { round, finishers, overlapped: () => overlapped };
}

describe('claim loop', () => {
  test('wake-ups during a round run exactly one more round after it, never two at once', async () => {
    const rounds = controlledRounds();
    const loop = createClaimLoop(rounds.round);
    loop.wake();
    loop.wake();
    loop.wake();
    await tick();
    expect(rounds.finishers).toHaveLength(1);
    rounds.finishers[0]!();
    await tick();
    await tick();
    expect(rounds.finishers).toHaveLength(2); // the three wake-ups cost one more round
    rounds.finishers[1]!();
    await tick();
    await tick();
    expect(rounds.finishers).toHaveLength(2);
    expect(rounds.overlapped()).toBe(false);
    await loop.stop();
  });

  test('wakeSoon coalesces the wake-ups of one event-loop turn; a round sleeps as long as it returns', async () => {
    const rounds = controlledRounds(20);
    const loop = createClaimLoop(rounds.round);
    loop.wakeSoon();
    loop.wakeSoon();
    expect(rounds.finishers).toHaveLength(0); // deferred
    await tick();
    await tick();
    expect(rounds.finishers).toHaveLength(1);
    rounds.finishers[0]!();
    // the next unprompted round comes once the returned sleep has passed
    for (let i = 0; i < 500 && rounds.finishers.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(rounds.finishers).toHaveLength(2);
    const stopping = loop.stop();
    rounds.finishers[1]!();
    await stopping;
    loop.wake(); // after stop: no more rounds
    await tick();
    expect(rounds.finishers).toHaveLength(2);
  });
});
