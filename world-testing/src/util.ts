import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';

export { delay };

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

let lastTime = -1;
let lastRandom: number[] = [];

/**
 * A ULID (48-bit time, 80 random bits, Crockford base32), monotonic within this process like the
 * runtime's ids: within one millisecond the random part is incremented, so ids sort in creation
 * order (Worlds break `createdAt` ties by id). An explicit `time` gives a plain random ULID.
 */
export function ulid(time?: number): string {
  let t = time ?? Date.now();
  let random: number[];
  if (time === undefined && t <= lastTime) {
    t = lastTime;
    random = [...lastRandom];
    for (let i = random.length - 1; i >= 0; i--) {
      if (random[i]! < 31) {
        random[i]! += 1;
        break;
      }
      random[i] = 0;
    }
  } else {
    random = Array.from(randomBytes(16), (b) => b % 32);
  }
  if (time === undefined) {
    lastTime = t;
    lastRandom = random;
  }
  let head = '';
  for (let i = 0; i < 10; i++) {
    head = CROCKFORD[t % 32] + head;
    t = Math.floor(t / 32);
  }
  return head + random.map((r) => CROCKFORD[r]).join('');
}

/** The time encoded in a ULID (the part after the last `_` of a prefixed id). */
export function ulidTime(id: string): number {
  const text = id.slice(id.lastIndexOf('_') + 1, id.lastIndexOf('_') + 11).toUpperCase();
  let t = 0;
  for (const ch of text) t = t * 32 + CROCKFORD.indexOf(ch);
  return t;
}

/** A unique suffix for names this test creates, so tests never collide on shared storage. */
export const nonce = (): string => randomBytes(6).toString('hex');

export const newRunId = (time?: number): string => `wrun_${ulid(time)}`;
export const newStepId = (): string => `step_${ulid()}`;
export const newHookId = (): string => `hook_${ulid()}`;
export const newWaitId = (): string => `wait_${ulid()}`;

/** Serialized-data stand-in: 4-byte format tag (as the runtime writes) followed by the values. */
export function payload(...values: number[]): Uint8Array {
  return new Uint8Array([0x64, 0x65, 0x76, 0x6c, ...values]);
}

/** Every byte value 0..255, twice, after a format tag. */
export function allBytes(): Uint8Array {
  const out = new Uint8Array(4 + 512);
  out.set([0x64, 0x65, 0x76, 0x6c]);
  for (let i = 0; i < 512; i++) out[4 + i] = i % 256;
  return out;
}

export function randomPayload(size: number): Uint8Array {
  return new Uint8Array(randomBytes(size));
}

/** Plain-array view of bytes (vitest prints and compares these readably). */
export const arr = (value: unknown): number[] => {
  if (!(value instanceof Uint8Array)) throw new Error(`expected a Uint8Array, got ${describe(value)}`);
  return Array.from(value);
};

export function bytesEqual(a: unknown, b: Uint8Array): boolean {
  if (!(a instanceof Uint8Array) || a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < b.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value instanceof Uint8Array) return `${value.constructor.name}(${value.byteLength})`;
  if (value instanceof Date) return `Date(${value.toISOString()})`;
  if (typeof value === 'object') return `${value.constructor?.name ?? 'Object'} ${safeJson(value)}`;
  return `${typeof value} ${String(value)}`;
}

function safeJson(value: unknown): string {
  try {
    const text = JSON.stringify(value);
    return text.length > 300 ? `${text.slice(0, 300)}…` : text;
  } catch {
    return '[unserialisable]';
  }
}

/** What the suite knows about a thrown value: error matching in the runtime is by `name` only. */
export interface ErrorLike {
  name?: unknown;
  message?: unknown;
  status?: unknown;
  retryAfter?: unknown;
  [key: string]: unknown;
}

export class ExpectationError extends Error {
  override name = 'AssertionError';
}

/** Awaits a promise that must reject; returns the rejection. */
export async function rejection(promise: Promise<unknown>, what = 'the call'): Promise<ErrorLike> {
  let result: unknown;
  try {
    result = await promise;
  } catch (error) {
    return (error ?? {}) as ErrorLike;
  }
  throw new ExpectationError(`expected ${what} to reject, but it resolved with ${describe(result)}`);
}

/** Awaits a promise that must reject with an error whose `name` is `name` (as `XError.is()` checks). */
export async function rejectsWithName(promise: Promise<unknown>, name: string, what = 'the call'): Promise<ErrorLike> {
  const error = await rejection(promise, what);
  if (error.name !== name || typeof error.message !== 'string') {
    throw new ExpectationError(
      `expected ${what} to reject with ${name}, got ${String(error.name)}: ${String(error.message).slice(0, 300)}`,
    );
  }
  return error;
}

/** Settles every promise and splits the outcomes. */
export async function settle<T>(promises: Promise<T>[]): Promise<{ ok: T[]; errors: ErrorLike[] }> {
  const results = await Promise.allSettled(promises);
  const ok: T[] = [];
  const errors: ErrorLike[] = [];
  for (const r of results) {
    if (r.status === 'fulfilled') ok.push(r.value);
    else errors.push((r.reason ?? {}) as ErrorLike);
  }
  return { ok, errors };
}

/** Polls `probe` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 30_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const detail = lastError ? ` (last error: ${String((lastError as Error).message ?? lastError)})` : '';
      throw new ExpectationError(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await delay(intervalMs);
  }
}

const pendingReads = new WeakMap<object, Promise<ReadableStreamReadResult<unknown>>>();

/**
 * Reads one chunk, or returns 'timeout' when nothing arrives within `ms`. A read that timed out
 * stays pending and is reused by the next call, so no chunk is lost to an abandoned read.
 */
export async function readWithin<T>(
  reader: ReadableStreamDefaultReader<T>,
  ms: number,
): Promise<ReadableStreamReadResult<T> | 'timeout'> {
  let read = pendingReads.get(reader) as Promise<ReadableStreamReadResult<T>> | undefined;
  if (!read) {
    read = reader.read();
    pendingReads.set(reader, read as Promise<ReadableStreamReadResult<unknown>>);
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    const result = await Promise.race([read, timeout]);
    if (result !== 'timeout') pendingReads.delete(reader);
    return result;
  } finally {
    clearTimeout(timer);
  }
}

const decoder = new TextDecoder();
export const text = (chunk: unknown): string => {
  if (typeof chunk === 'string') return chunk;
  if (chunk instanceof Uint8Array) return decoder.decode(chunk);
  throw new ExpectationError(`expected a Uint8Array chunk, got ${describe(chunk)}`);
};

/** Reads a stream to its end (fails after `timeoutMs` if it never closes). */
export async function readAll(stream: ReadableStream<Uint8Array>, timeoutMs = 20_000): Promise<Uint8Array[]> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const result = await readWithin(reader, Math.max(1, deadline - Date.now()));
      if (result === 'timeout') {
        throw new ExpectationError(`stream did not close within ${timeoutMs} ms (received ${chunks.length} chunks)`);
      }
      if (result.done) return chunks;
      chunks.push(result.value);
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/** The eventData of an event of any type (the Event union omits it on some members). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const dataOf = (event: unknown): any => (event as { eventData?: unknown } | undefined)?.eventData;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Loose = any;
