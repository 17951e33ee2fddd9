import { createHash } from 'node:crypto';
import type { WorldConfig } from '../config.js';
import { channelName, isListening, subscribe, type Subscription } from '../db/listener.js';
import { WorldPgError } from '../errors.js';

/**
 * The in-process dispatcher between the process's one LISTEN connection (src/db/listener.ts)
 * and the live readers of one World: a single subscription to `<schema>:streams`, fanned out
 * by stream to the readers waiting on it, so 1,000 readers cost one LISTEN and one JSON parse
 * per notification. Notifications are hints: a woken reader re-queries the table.
 */
export interface Tail {
  /** `notifyKey()` of the stream the reader follows. */
  readonly key: string;
  /** The next index the reader needs; notifications about earlier indexes do not wake it. */
  readonly next: number;
  /** Something may have changed: re-query before waiting again. */
  notify(): void;
  /** The World is closing: end the reader with `error`. */
  abort(error: Error): void;
}

/** Stream names are unbounded; NOTIFY payloads are not (8000 bytes): long names go as a digest. */
export function notifyKey(name: string): string {
  if (Buffer.byteLength(name) <= 128) return name;
  return `sha256:${createHash('sha256').update(name).digest('hex')}`;
}

/** What append_stream_chunks sends: the stream, its last data index, and whether it ended. */
interface Note {
  s: string;
  i: number;
  done: boolean;
}

function parseNote(payload: string): Note | undefined {
  try {
    const note = JSON.parse(payload) as Partial<Note>;
    return typeof note.s === 'string' && typeof note.i === 'number' ? (note as Note) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * How long the subscription outlives its last reader. Health checks reopen a reader every
 * 100 ms; without this each reopen would UNLISTEN, close and reconnect the LISTEN connection.
 */
const LINGER_MS = 5_000;

export type Hub = ReturnType<typeof createHub>;

export function createHub(getConfig: () => WorldConfig) {
  const tails = new Map<string, Set<Tail>>();
  let size = 0;
  let subscription: Subscription | undefined;
  let linger: NodeJS.Timeout | undefined;
  let closed = false;

  function onNotify(payload: string): void {
    const note = parseNote(payload);
    if (!note) return;
    for (const tail of tails.get(note.s) ?? []) {
      if (note.done || note.i >= tail.next) tail.notify();
    }
  }

  /** After every (re)connect of the listener: anything may have been missed while it was down. */
  function onResync(): void {
    for (const set of tails.values()) for (const tail of set) tail.notify();
  }

  function release(): void {
    clearTimeout(linger);
    linger = undefined;
    subscription?.unsubscribe();
    subscription = undefined;
  }

  /** Registers a reader; returns the function that removes it (idempotent). */
  function join(tail: Tail): () => void {
    if (closed) throw new WorldPgError('CLOSED', 'this World was closed; create a new one to read streams');
    clearTimeout(linger);
    linger = undefined;
    if (!subscription) {
      const config = getConfig();
      subscription = subscribe(config, channelName(config.schema, 'streams'), onNotify, onResync);
    }
    let set = tails.get(tail.key);
    if (!set) tails.set(tail.key, (set = new Set()));
    set.add(tail);
    size++;
    let joined = true;
    return () => {
      if (!joined) return;
      joined = false;
      set.delete(tail);
      if (set.size === 0 && tails.get(tail.key) === set) tails.delete(tail.key);
      if (--size === 0 && !closed) {
        linger = setTimeout(release, LINGER_MS);
        linger.unref();
      }
    };
  }

  /** Ends every reader of this World with `error` and drops the subscription at once. */
  function close(error: Error): void {
    closed = true;
    const all = [...tails.values()].flatMap((set) => [...set]);
    for (const tail of all) tail.abort(error);
    release();
  }

  return {
    join,
    close,
    /** Whether notifications can arrive now; readers poll faster when they cannot. */
    isListening: () => isListening(getConfig()),
  };
}
