import { randomBytes } from 'node:crypto';
import { ulid } from 'ulid';

/** Stream names shaped like the runtime's (`strm_<ULID>_user`) and a matching run id. */
export function newStream(): { name: string; runId: string } {
  const id = ulid();
  return { name: `strm_${id}_user`, runId: `wrun_${id}` };
}

/** An application_name no other test uses: the World's connections are recognisable in pg_stat_activity. */
export function uniqueApplicationName(): string {
  return `wwp-streamer-${randomBytes(4).toString('hex')}`;
}

const decoder = new TextDecoder();
export const text = (bytes: Uint8Array): string => decoder.decode(bytes);

/** Reads a stream to its end, one value per stored chunk. */
export async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array[]> {
  const values: Uint8Array[] = [];
  for await (const value of stream as unknown as AsyncIterable<Uint8Array>) values.push(value);
  return values;
}

export async function readAllText(stream: ReadableStream<Uint8Array>): Promise<string[]> {
  return (await readAll(stream)).map(text);
}

/** `['from', …, 'to - 1']` as strings: the payloads of chunks written as their own index. */
export function range(from: number, to: number): string[] {
  return Array.from({ length: Math.max(0, to - from) }, (_, i) => String(from + i));
}

/** Polls `check` until it returns true (no wall-clock assertion: the test timeout is the bound). */
export async function eventually(check: () => Promise<boolean> | boolean, intervalMs = 50): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, intervalMs));
}
