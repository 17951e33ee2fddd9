import type { World } from '@workflow/world';
import { test } from 'vitest';

/**
 * What the suite passes to a World factory. `key` is unique per test; instances created with the
 * same key MUST share storage (the suite asks for a second instance to check cross-instance
 * behaviour). `area` names the group of tests (`runs`, `queue`…): a factory may map it to one
 * database schema per area instead of one per test to save set-up time. A factory may ignore
 * both: the suite never assumes empty storage (every test uses ids and names of its own).
 */
export interface WorldContext {
  key: string;
  area: string;
}

export type WorldFactory = (context: WorldContext) => World | Promise<World>;

/** Optional features, and features some Worlds cannot offer in a test process. */
export interface Capabilities {
  /** Queue tests (delivery to handlers made by `createQueueHandler`). Default true. */
  queue: boolean;
  /**
   * A started instance delivers to handlers created on another instance of the same process
   * (docs/world-contract.md §1.3). Default true.
   */
  crossInstanceDelivery: boolean;
  /** Streamer tests. Default true. */
  streamer: boolean;
  /** Tests that create a second instance on the same storage (`context.key`). Default true. */
  multipleInstances: boolean;
}

export const defaultCapabilities: Capabilities = {
  queue: true,
  crossInstanceDelivery: true,
  streamer: true,
  multipleInstances: true,
};

export type Severity = 'MUST' | 'SHOULD';

export interface Fixtures {
  /** The World under test for this test (created before the test, closed after it). */
  world: World;
  /** More instances of the same World. */
  worlds: TestWorlds;
  /** Marks the running test as skipped (for optional World features found missing at run time). */
  skip: (note?: string) => void;
}

export interface TestOptions {
  timeout?: number;
  /** Skip with a reason (printed in the title) when a capability is missing. */
  skip?: string | false;
}

export type Register = (title: string, fn: (fixtures: Fixtures) => Promise<void>, options?: TestOptions) => void;

let counter = 0;

/** Instances of the World made for one test; all are closed when the test ends. */
export class TestWorlds {
  private readonly made: World[] = [];
  constructor(
    private readonly factory: WorldFactory,
    readonly context: WorldContext,
  ) {}

  /** A new instance on the storage of this test. */
  async create(): Promise<World> {
    const world = await this.factory(this.context);
    this.made.push(world);
    return world;
  }

  async closeAll(): Promise<void> {
    // close() errors are the lifecycle tests' business; here they must not hide the test's result
    await Promise.allSettled(this.made.splice(0).map((w) => Promise.resolve().then(() => w.close?.())));
  }
}

/** Registers `[MUST] title` / `[SHOULD] title` tests of one area, each with its own World. */
export function registrar(factory: WorldFactory, area: string, severity: Severity, defaultTimeout: number): Register {
  return (title, fn, options = {}) => {
    const fullTitle = `[${severity}] ${title}`;
    if (options.skip) {
      test.skip(`${fullTitle} (skipped: ${options.skip})`, () => {});
      return;
    }
    test(
      fullTitle,
      async (context) => {
        const worlds = new TestWorlds(factory, { key: `${area}-${++counter}-${process.pid}`, area });
        try {
          const world = await worlds.create();
          await fn({ world, worlds, skip: (note) => context.skip(note) });
        } finally {
          await worlds.closeAll();
        }
      },
      options.timeout ?? defaultTimeout,
    );
  };
}
