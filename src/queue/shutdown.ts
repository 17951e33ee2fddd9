/**
 * Bounded waits for a worker's shutdown: every wait of one stop() shares one deadline, so a stop
 * returns in time even when a statement hangs on a connection that was cut (the pool is ended
 * right after, which fails what is left).
 */

/** Releasing leases gets this long even when the drain used up the shutdown deadline. */
export const RELEASE_GRACE_MS = 2_000;

/** Waits for `promise` to settle or for `deadline` (epoch ms); true when it settled in time. */
export async function settledBy(promise: Promise<unknown> | undefined, deadline: number): Promise<boolean> {
  if (!promise) return true;
  let timer: NodeJS.Timeout | undefined;
  const settled = promise.then(
    () => true,
    () => true,
  );
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([settled, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
