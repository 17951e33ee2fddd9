import type { Queue } from '@workflow/world';
import type { WorldState } from '../world-state.js';

/** Placeholder until the queue lands (issue 5): every call says so. */
export function createQueue(_state: WorldState): Queue & { start(): Promise<void>; stop(): Promise<void> } {
  const missing = () => {
    throw new Error('[workflow-world-postgres] the queue is not implemented yet');
  };
  return {
    getDeploymentId: async () => _state.getConfig().deploymentId,
    queue: async () => missing(),
    createQueueHandler: () => async () => missing(),
    start: async () => {},
    stop: async () => {},
  };
}
