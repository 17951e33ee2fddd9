import type { Streamer } from '@workflow/world';
import { WorldPgError } from '../errors.js';
import type { WorldState } from '../shared/world-state.js';
import { createHub } from './hub.js';
import { getStreamChunks, getStreamInfo, listStreamsByRunId } from './inspect.js';
import { openReader } from './read.js';
import { appendChunks } from './write.js';

/**
 * The runtime's writable waits for its flush timer on every chunk (workflow@4.8.9 flushes one
 * chunk per timer: each write() awaits its own flush), so the interval is latency added to
 * every chunk, not a batching window. An append here is one ~1 ms round trip, so flush at once.
 */
const STREAM_FLUSH_INTERVAL_MS = 0;

/**
 * The Streamer of one World. Chunks live in `stream_chunks` with gap-free per-stream indexes;
 * live readers share this World's subscription to the process's one LISTEN connection.
 * `stop()` ends this instance's live readers with an error and drops the subscription.
 */
export function createStreamer(state: WorldState): Streamer & { stop(): Promise<void> } {
  const { getDb } = state;
  const hub = createHub(state.getConfig);
  return {
    streamFlushIntervalMs: STREAM_FLUSH_INTERVAL_MS,
    writeToStream: (name, runId, chunk) => appendChunks(getDb, name, runId, [chunk], false),
    writeToStreamMulti: async (name, runId, chunks) => {
      if (chunks.length > 0) await appendChunks(getDb, name, runId, chunks, false);
    },
    closeStream: (name, runId) => appendChunks(getDb, name, runId, [], true),
    readFromStream: (name, startIndex) => openReader({ getDb, hub }, name, startIndex),
    listStreamsByRunId: (runId) => listStreamsByRunId(getDb, runId),
    getStreamChunks: (name, _runId, options) => getStreamChunks(getDb, name, options),
    getStreamInfo: (name, _runId) => getStreamInfo(getDb, name),
    stop: async () => {
      hub.close(new WorldPgError('CLOSED', 'the World was closed while this stream was being read'));
    },
  };
}
