/**
 * Bounded waits for shutdown (the World's stop(), the queue worker's, releasing the pool): every
 * wait of one stop() shares one deadline, so a stop returns in time even when a statement hangs
 * on a connection that was cut or a connect never answers (what is left fails when the pool ends).
 */
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
