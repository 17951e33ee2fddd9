import { resolveConfig, type WorldConfig, type WorldOptions } from '../config.js';
import { acquireDb, type Db } from '../db/client.js';
import { WorldPgError } from '../errors.js';
import { settledBy } from './settled-by.js';

/**
 * The lazily opened resources of one World instance. Nothing happens at construction
 * (docs/world-contract.md §1.3): the configuration is resolved and the pool opened at first use,
 * and a failed first use is retried by the next one rather than cached.
 */
export function createWorldState(options: WorldOptions) {
  let config: WorldConfig | undefined;
  let opening: Promise<{ db: Db; release: () => Promise<void> }> | undefined;
  let closed = false;

  function getConfig(): WorldConfig {
    config ??= resolveConfig(options);
    return config;
  }

  async function getDb(): Promise<Db> {
    if (closed) throw new WorldPgError('CLOSED', 'this World was closed; create a new one');
    if (!opening) {
      const attempt = Promise.resolve().then(() => acquireDb(getConfig()));
      opening = attempt;
      attempt.catch(() => {
        if (opening === attempt) opening = undefined;
      });
    }
    return (await opening).db;
  }

  /**
   * Ends this instance's hold on the pool (the pool itself closes with its last holder). Waits
   * for a pool still being opened (a connect that does not answer) until `deadline` at most; the
   * hold is then released whenever that open settles.
   */
  async function release(deadline = Number.POSITIVE_INFINITY): Promise<void> {
    closed = true;
    const held = opening;
    opening = undefined;
    if (!held) return;
    const releasing = held.then(
      (h) => h.release(),
      () => {}, // the pool never opened: nothing to release
    );
    await (Number.isFinite(deadline) ? settledBy(releasing, deadline) : releasing);
  }

  return { getConfig, getDb, release };
}

export type WorldState = ReturnType<typeof createWorldState>;
