import type { World } from '@workflow/world';
import { describe } from 'vitest';
import type { Area } from './area.js';
import { eventsArea } from './areas/events.js';
import { fidelityArea } from './areas/fidelity.js';
import { hooksArea, waitsArea } from './areas/hooks-waits.js';
import { lifecycleArea } from './areas/lifecycle.js';
import { paginationArea } from './areas/pagination.js';
import { queueArea } from './areas/queue.js';
import { runsArea } from './areas/runs.js';
import { stepsArea } from './areas/steps.js';
import { streamerArea } from './areas/streamer.js';
import { e2eArea, type E2EOptions } from './e2e/area.js';
import { type Capabilities, defaultCapabilities, registrar, type WorldFactory } from './harness.js';
import { loadWorldFactory } from './load-world.js';

export type { Capabilities, Fixtures, Severity, WorldContext, WorldFactory } from './harness.js';
export type { E2EOptions } from './e2e/area.js';
export { loadWorldFactory } from './load-world.js';

export interface ConformanceOptions {
  /**
   * The World under test: a factory (called once per instance the suite needs, with a context
   * whose `key` is shared by instances that must share storage), or a module specifier loaded
   * as the workflow runtime loads `WORKFLOW_TARGET_WORLD` (CommonJS `require` relative to `cwd`;
   * the module itself, its `default` or its `createWorld` export, called with no arguments;
   * `local` for the built-in `@workflow/world-local`).
   */
  world: WorldFactory | string;
  /** Title of the outer `describe` (default `World conformance`). */
  name?: string;
  /** Capabilities the World lacks in a test process; tests needing them are reported as skipped. */
  capabilities?: Partial<Capabilities>;
  /** Working directory for a module specifier (default `process.cwd()`). */
  cwd?: string;
  /**
   * Layer 2: real workflows through the real runtime, served by a server the suite spawns with
   * `WORKFLOW_TARGET_WORLD` set. Off unless given. With a module specifier, `{}` is enough.
   */
  e2e?: E2EOptions | false;
  /** Limit the run to some areas (`runs`, `steps`, `events`, `hooks`, `waits`, `pagination`, `fidelity`, `queue`, `streamer`, `lifecycle`, `e2e`). */
  only?: string[];
  /** Default per-test timeout in ms (default 60 000). */
  testTimeout?: number;
}

export const AREAS = ['runs', 'steps', 'events', 'hooks', 'waits', 'pagination', 'fidelity', 'queue', 'streamer', 'lifecycle', 'e2e'] as const;

/**
 * Registers the conformance suite as vitest `describe`/`test` blocks. Call it at the top level of
 * a test file. Test titles start with `[MUST]` or `[SHOULD]`: the keyword of the rule in
 * docs/world-contract.md that the test encodes (statuses of errors, which the runtime never
 * reads in-process, are SHOULD; everything the runtime relies on is MUST).
 *
 * @example
 * import { createConformanceSuite } from 'workflow-world-testing';
 * import { createWorld } from 'my-world';
 * createConformanceSuite({ world: ({ area }) => createWorld({ namespace: `test_${area}` }) });
 */
export function createConformanceSuite(options: ConformanceOptions): void {
  const cwd = options.cwd ?? process.cwd();
  const specifier = typeof options.world === 'string' ? options.world : undefined;
  const factory: WorldFactory =
    typeof options.world === 'string' ? lazyModuleFactory(options.world, cwd) : options.world;
  const capabilities: Capabilities = { ...defaultCapabilities, ...options.capabilities };
  const timeout = options.testTimeout ?? 60_000;
  const wanted = (area: string) => !options.only || options.only.includes(area);
  const areas: [string, (area: Area) => void][] = [
    ['runs', runsArea],
    ['steps', stepsArea],
    ['events', eventsArea],
    ['hooks', hooksArea],
    ['waits', waitsArea],
    ['pagination', paginationArea],
    ['fidelity', fidelityArea],
    ['queue', queueArea],
    ['streamer', streamerArea],
    ['lifecycle', lifecycleArea],
  ];

  describe(options.name ?? 'World conformance', () => {
    for (const [name, register] of areas) {
      if (!wanted(name)) continue;
      describe(name, () => {
        register({
          must: registrar(factory, name, 'MUST', timeout),
          should: registrar(factory, name, 'SHOULD', timeout),
          capabilities,
          ...(specifier ? { module: { specifier, cwd } } : {}),
        });
      });
    }
    if (options.e2e && wanted('e2e')) {
      const e2e = options.e2e;
      describe('e2e', () => {
        e2eArea({ ...e2e, targetWorld: e2e.targetWorld ?? specifier, cwd: e2e.cwd ?? cwd });
      });
    }
  });
}

/** Loads the module at first use, so a load error fails tests rather than the collection. */
function lazyModuleFactory(specifier: string, cwd: string): WorldFactory {
  let factory: (() => World) | undefined;
  return () => {
    factory ??= loadWorldFactory(specifier, cwd);
    return factory();
  };
}
