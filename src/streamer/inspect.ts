import type { GetChunksOptions, StreamChunksResponse, StreamInfoResponse } from '@workflow/world';
import type { Db } from '../db/client.js';
import { withRetry } from '../db/transient-retry.js';
import { clampLimit, decodeNumericCursor, encodeCursor } from '../shared/pagination.js';
import { fetchNamesByRun, fetchPage, fetchState } from './queries.js';

/**
 * Snapshot reads of streams: listStreamsByRunId, getStreamChunks, getStreamInfo. They read by name
 * alone (names are globally unique, docs/world-contract.md §2.8); the runId argument is not
 * checked. Their counts agree with readFromStream: both come from streams.next_idx and the chunk
 * rows.
 */
const CURSOR_KIND = 'chunk';
const DEFAULT_CHUNKS = 100;

export async function listStreamsByRunId(getDb: () => Promise<Db>, runId: string): Promise<string[]> {
  return withRetry(async () => fetchNamesByRun(await getDb(), runId), { what: 'listing streams', context: { runId } });
}

export async function getStreamInfo(getDb: () => Promise<Db>, name: string): Promise<StreamInfoResponse> {
  const state = await withRetry(async () => fetchState(await getDb(), name), { what: 'inspecting stream', context: { stream: name } });
  return { tailIndex: state.count - 1, done: state.closed };
}

/**
 * One page of stored chunks from the cursor's index. `cursor` is null when no further chunk is
 * stored yet (the contract's "no further page exists now"); `done` says whether the stream ended.
 */
export async function getStreamChunks(
  getDb: () => Promise<Db>,
  name: string,
  options: GetChunksOptions = {},
): Promise<StreamChunksResponse> {
  const limit = clampLimit(options.limit, DEFAULT_CHUNKS);
  const from = Number(decodeNumericCursor(CURSOR_KIND, options.cursor) ?? 0);
  // one row more than asked answers "is there another page?" without a count
  const page = await withRetry(async () => fetchPage(await getDb(), name, from, limit + 1, null), {
    what: 'paging stream',
    context: { stream: name },
  });
  const data = page.chunks.slice(0, limit);
  const hasMore = page.chunks.length > limit;
  const last = data.at(-1);
  return {
    data,
    cursor: hasMore && last ? encodeCursor(CURSOR_KIND, String(last.index + 1)) : null,
    hasMore,
    done: page.closed,
  };
}
