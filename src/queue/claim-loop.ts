/**
 * When the worker claims: a claim round runs when woken (a NOTIFY, a handler registering, a slot
 * freed) and again when its own timer fires; a wake-up during a round runs one more round right
 * after it, never two at once. `round` returns how long to sleep before the next unprompted
 * round. Knows nothing of the database; the worker supplies the round.
 */
export function createClaimLoop(round: () => Promise<number>) {
  let running: Promise<void> | undefined;
  let again = false;
  let soon = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  /** Runs a round now, or right after the one in progress. */
  function wake(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    clearTimeout(timer);
    running = (async () => {
      let sleepMs: number | undefined;
      do {
        again = false;
        sleepMs = await round();
      } while (again && !stopped);
      if (!stopped) timer = setTimeout(wake, sleepMs);
    })().finally(() => {
      running = undefined;
      if (again) wake();
    });
  }

  /**
   * A wake-up deferred to the end of this turn of the event loop: deliveries that finish
   * together then refill their slots with one round instead of one each.
   */
  function wakeSoon(): void {
    if (soon) return;
    soon = true;
    setImmediate(() => {
      soon = false;
      wake();
    });
  }

  return {
    wake,
    wakeSoon,
    /** No more rounds; resolves with the round in progress, if any. */
    stop(): Promise<void> | undefined {
      stopped = true;
      clearTimeout(timer);
      return running;
    },
  };
}
