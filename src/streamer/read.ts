import type { Db } from '../db/client.js';
import { withRetry } from '../db/transient-retry.js';
import { worldErrors } from '../errors.js';
import { notifyKey, type Hub, type Tail } from './hub.js';
import { fetchPage, fetchState, type StoredChunk } from './queries.js';

/**
 * readFromStream: a pull-based ReadableStream over the chunks table. It holds at most one page
 * (PAGE_CHUNKS chunks and PAGE_BYTES bytes, or one larger chunk) and queries the next page only
 * when its consumer reads, so memory stays bounded whatever the stream's length and however
 * slow the consumer. Delivery is by index (`idx >= next`), so the catch-up and live phases are
 * the same query and no chunk is skipped or repeated between them. When caught up it waits for
 * a notification about its stream or a poll timer, whichever comes first, then re-queries.
 */
const PAGE_CHUNKS = 100;
const PAGE_BYTES = 1 << 20;
/** Poll interval while no notification can arrive (LISTEN down or unavailable), unless streamPollMs is smaller. */
const UNLISTENED_POLL_MS = 250;

export interface ReaderDeps {
  getDb(): Promise<Db>;
  hub: Hub;
}

export async function openReader(deps: ReaderDeps, name: string, startIndex = 0): Promise<ReadableStream<Uint8Array>> {
  if (typeof name !== 'string' || name === '') throw worldErrors.badRequest('a stream name is required');
  if (!Number.isSafeInteger(startIndex)) {
    throw worldErrors.badRequest(`stream ${name}: startIndex must be an integer, got ${String(startIndex)}`);
  }
  const db = await withRetry(deps.getDb, { what: 'opening stream', context: { stream: name } });
  // docs/world-contract.md §2.8: a negative start counts back from the length at open time, once.
  let next = startIndex;
  if (startIndex < 0) {
    const { count } = await withRetry(() => fetchState(db, name), { what: 'opening stream', context: { stream: name } });
    next = Math.max(0, count + startIndex);
  }

  const aborter = new AbortController();
  const signal = aborter.signal;
  let page: (StoredChunk | undefined)[] = [];
  let pos = 0; // next unread entry of `page`
  let known: { count: number; closed: boolean } | undefined; // from the latest page query
  let notified = false;
  let wake: (() => void) | undefined;
  let controller!: ReadableStreamDefaultController<Uint8Array>;

  const tail: Tail = {
    key: notifyKey(name),
    get next() {
      return next;
    },
    notify() {
      notified = true;
      wake?.();
    },
    abort(error) {
      finish();
      controller.error(error);
    },
  };
  // Joined before the first page query: a write committed after that query is either in a
  // later query or announced to this reader (or, while LISTEN is reconnecting, by its resync).
  const leave = deps.hub.join(tail);

  function finish(): void {
    aborter.abort();
    leave();
    page = [];
  }

  /** Resolves on a notification, the poll timer or cancellation, whichever comes first. */
  function waitForChange(): Promise<void> {
    if (notified) return Promise.resolve();
    const { streamPollMs } = db.config;
    const base = deps.hub.isListening() ? streamPollMs : Math.min(UNLISTENED_POLL_MS, streamPollMs);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        wake = undefined;
        signal.removeEventListener('abort', done);
        resolve();
      };
      // jittered: readers of many streams must not poll in step
      const timer = setTimeout(done, base * (0.8 + Math.random() * 0.4));
      wake = done;
      signal.addEventListener('abort', done);
    });
  }

  async function pull(ctl: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    try {
      // Loops until it enqueues one chunk or closes: a pull that returns having done neither
      // would never be called again.
      for (;;) {
        const chunk = page[pos];
        if (chunk) {
          page[pos++] = undefined; // let each chunk's bytes go once handed over
          next = chunk.index + 1;
          // Zero-length chunks keep their index but are not enqueued: the runtime re-enqueues
          // what it reads into a `type: 'bytes'` stream, which throws on an empty chunk.
          if (chunk.data.byteLength === 0) continue;
          ctl.enqueue(chunk.data);
          return;
        }
        if (known && next >= known.count) {
          if (known.closed) {
            finish();
            ctl.close();
            return;
          }
          await waitForChange();
        }
        signal.throwIfAborted();
        notified = false; // a notification from here on means "query again"
        const fetched = await withRetry(() => fetchPage(db, name, next, PAGE_CHUNKS, PAGE_BYTES), {
          what: 'reading stream',
          context: { stream: name },
          attempts: Infinity,
          signal,
        });
        signal.throwIfAborted();
        page = fetched.chunks;
        pos = 0;
        known = fetched;
      }
    } catch (error) {
      if (signal.aborted) return; // cancelled or World closed: the stream is settled already
      finish();
      throw error; // errors the stream with it
    }
  }

  return new ReadableStream<Uint8Array>(
    {
      start(ctl) {
        controller = ctl;
      },
      pull,
      cancel() {
        finish();
      },
    },
    // 0: pull runs only while the consumer waits in read(); nothing is fetched ahead of demand
    { highWaterMark: 0 },
  );
}
