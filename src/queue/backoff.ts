/**
 * Redelivery policy after a failed delivery: exponential backoff with "equal jitter" (half the
 * delay fixed, half random), so failures that hit many messages at once (a database restart)
 * spread out instead of retrying in lockstep.
 */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 40));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * The `timeoutSeconds` of a handler result, or undefined when the delivery is done. Negative or
 * non-finite values mean "as soon as possible" rather than an error: the runtime computes them
 * from clocks and a late wake-up is harmless.
 */
export function timeoutSecondsOf(result: unknown): number | undefined {
  const value = (result as { timeoutSeconds?: unknown } | null | undefined)?.timeoutSeconds;
  if (typeof value !== 'number') return undefined;
  return Number.isFinite(value) && value > 0 ? value : 0;
}

/** `last_error` text: bounded, and without U+0000, which a Postgres text column rejects. */
export function errorText(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.replace(/\u0000/g, '\uFFFD').slice(0, 2_000);
}
