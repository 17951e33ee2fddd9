// Public types of workflow-world-testing (hand-written: the package ships TypeScript sources that
// vitest runs directly, and this file keeps consumers' type checks off those sources).
// Keep in sync with src/index.ts, src/harness.ts and src/e2e/area.ts.
import type { World } from '@workflow/world';

/** Passed to a World factory: instances created with the same `key` MUST share storage. */
export interface WorldContext {
  /** Unique per test. */
  key: string;
  /** The group of tests: runs, steps, events, hooks, waits, pagination, fidelity, queue, streamer, lifecycle. */
  area: string;
}

export type WorldFactory = (context: WorldContext) => World | Promise<World>;

export interface Capabilities {
  /** Queue tests (delivery to handlers made by createQueueHandler). Default true. */
  queue: boolean;
  /** A started instance delivers to handlers created on another instance of the process. Default true. */
  crossInstanceDelivery: boolean;
  /** Streamer tests. Default true. */
  streamer: boolean;
  /** Tests that create a second instance on the same storage. Default true. */
  multipleInstances: boolean;
}

export type Severity = 'MUST' | 'SHOULD';

export interface Fixtures {
  world: World;
  worlds: { create(): Promise<World>; readonly context: WorldContext };
  skip: (note?: string) => void;
}

export interface E2EOptions {
  /** WORKFLOW_TARGET_WORLD for the spawned server (module specifier resolved from `cwd`, or `local`). */
  targetWorld?: string;
  /** Working directory of the server (where the runtime resolves the World). */
  cwd?: string;
  /** Extra environment for the server (how the World finds its storage). */
  env?:
    | Record<string, string | undefined>
    | (() => Record<string, string | undefined> | Promise<Record<string, string | undefined>>);
  /** Folder with the workflows and server.mjs (default: this package's workflows/). */
  workflowsDir?: string;
  /** How long the server may take to answer /healthz (default 60 000 ms). */
  startupTimeoutMs?: number;
}

export interface ConformanceOptions {
  /** A factory, or a module specifier loaded as the runtime loads WORKFLOW_TARGET_WORLD (`local` = world-local). */
  world: WorldFactory | string;
  /** Title of the outer describe (default `World conformance`). */
  name?: string;
  capabilities?: Partial<Capabilities>;
  /** Working directory for a module specifier (default process.cwd()). */
  cwd?: string;
  /** Layer 2: real workflows through the real runtime (off unless given). */
  e2e?: E2EOptions | false;
  /** Limit the run to some areas (the Capabilities areas, pagination, fidelity, lifecycle, e2e…). */
  only?: string[];
  /** Default per-test timeout in ms (default 60 000). */
  testTimeout?: number;
}

export declare const AREAS: readonly [
  'runs',
  'steps',
  'events',
  'hooks',
  'waits',
  'pagination',
  'fidelity',
  'queue',
  'streamer',
  'lifecycle',
  'e2e',
];

/** Registers the suite as vitest describe/test blocks (titles start with [MUST] or [SHOULD]). */
export declare function createConformanceSuite(options: ConformanceOptions): void;

/** The runtime's loader: require() relative to `cwd`; the module, its default or its createWorld export. */
export declare function loadWorldFactory(specifier: string, cwd?: string): () => World;
