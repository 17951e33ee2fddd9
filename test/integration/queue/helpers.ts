import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';
import type { PostgresWorld, WorldOptions } from '../../../src/index.js';
import { resolveConfig } from '../../../src/config.js';
import { quoteIdent } from '../../../src/db/ident.js';
import type { Db } from '../../../src/db/client.js';
import type { QueueMetrics } from '../../../src/queue/metrics.js';
import { adminSql, databaseUrl, freshSchema, testWorld } from '../../helpers/db.js';
import type { FixtureSpec } from './fixtures/worker.js';

/** Short timings so that leases, retries and polls play out in test time. */
export const FAST: WorldOptions = {
  queueLeaseMs: 1_000,
  queuePollMs: 200,
  queueRetryBaseMs: 20,
  queueRetryMaxMs: 200,
  queueReconcileIntervalMs: 0,
  shutdownTimeoutMs: 2_000,
};

/** `queueMetrics` is spread onto the World by createWorld (src/queue/index.ts). */
export type QueueTestWorld = PostgresWorld & { schema: string; queueMetrics(): QueueMetrics };

/** A World with fast queue timings, on `schema` when given (several Worlds can share one). */
export function queueWorld(options: WorldOptions = {}): QueueTestWorld {
  const schema = options.schema ?? freshSchema();
  return Object.assign(testWorld({ ...FAST, ...options, schema }), { schema }) as QueueTestWorld;
}

export { freshSchema };

/** Polls `check` until it returns a truthy value; fails after `timeoutMs` (generous: machines are noisy). */
export async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 30_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

export interface MessageRow {
  id: string;
  queue_name: string;
  kind: string;
  run_id: string | null;
  state: string;
  attempt: number;
  fence: string;
  lease_owner: string | null;
  last_error: string | null;
  idempotency_key: string | null;
  run_at: Date;
}

export async function messageRows(schema: string): Promise<MessageRow[]> {
  return adminSql().unsafe<MessageRow[]>(
    `select id, queue_name, kind, run_id, state, attempt, fence::text, lease_owner, last_error, idempotency_key, run_at
       from "${schema}".messages order by id`,
  );
}

export const WORKFLOW = '__wkf_workflow_';
export const STEP = '__wkf_step_';

/** A World running in a child process (fixtures/worker.ts); its stdout lines are collected. */
export interface Child {
  lines: string[];
  waitForLine(predicate: (line: string) => boolean, what: string): Promise<string>;
  /** SIGTERM: the World closes gracefully. */
  stop(): Promise<void>;
  /** SIGKILL: no cleanup at all, as in a crash. */
  kill(): Promise<void>;
  exited: Promise<number | null>;
}

const children = new Set<ChildProcess>();
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
});

export function spawnWorld(spec: FixtureSpec): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url))], {
    env: { ...process.env, FIXTURE: JSON.stringify(spec) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const lines: string[] = [];
  let buffer = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    const parts = buffer.split('\n');
    buffer = parts.pop()!;
    lines.push(...parts);
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      children.delete(child);
      if (code !== 0 && code !== null) console.error(`child world exited with ${code}: ${stderr}`);
      resolve(code);
    }),
  );
  return {
    lines,
    exited,
    waitForLine: (predicate, what) => waitFor(() => lines.find(predicate), what),
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A `Db` handle on the admin connection, for calling the queue's statements directly. */
export function internalDb(schema: string, options: WorldOptions = {}): Db {
  const config = resolveConfig({ connectionString: databaseUrl, ...FAST, ...options, schema });
  return { sql: adminSql(), schema, ident: quoteIdent(schema), config };
}
