import type { Streamer } from '@workflow/world';
import type { WorldState } from '../world-state.js';

/** Placeholder until the streamer lands (issue 6): every call says so. */
export function createStreamer(_state: WorldState): Streamer & { stop(): Promise<void> } {
  const missing = async (): Promise<never> => {
    throw new Error('[workflow-world-postgres] the streamer is not implemented yet');
  };
  return {
    writeToStream: missing,
    closeStream: missing,
    readFromStream: missing,
    listStreamsByRunId: missing,
    getStreamChunks: missing,
    getStreamInfo: missing,
    stop: async () => {},
  };
}
