import type { Storage } from '@workflow/world';
import type { Db } from '../db/client.js';
import { createAppend } from './append.js';
import { createReads } from './reads.js';

/** Storage: runs, steps, hooks and events shaped as the World interface expects. */
export function createStorage(getDb: () => Promise<Db>): Storage {
  const reads = createReads(getDb);
  const { create } = createAppend(getDb);
  return {
    runs: reads.runs,
    steps: reads.steps,
    hooks: reads.hooks,
    events: { ...reads.events, create },
  } as Storage;
}
