import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll } from 'vitest';
import { buildOrderApp, REPO_ROOT, spawnOrderApp, worldEnv } from '../../scripts/lib/order-app.mjs';
import { freePort } from '../../scripts/lib/util.mjs';

/**
 * End-to-end harness: the example app (examples/order-app) as a real child process, built with
 * `wf build` and driven over HTTP. It runs on this package's World unless `E2E_WORLD=local`
 * selects the reference filesystem World, which checks the app and the tests themselves.
 */
export const e2eWorld: 'postgres' | 'local' = process.env.E2E_WORLD === 'local' ? 'local' : 'postgres';

export interface AppProcess {
  baseUrl: string;
  /** Sends `signal` (SIGTERM by default) and resolves with the exit code (null when killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** SIGKILL (to the launcher's whole process group): no shutdown code runs, as in a crash. */
  kill(): Promise<void>;
  /** Everything the process (and its earlier incarnations) printed. */
  logs(): string;
  /** Starts the process again, same port and environment, after stop() or kill(). */
  restart(): Promise<void>;
}

export interface AppOptions {
  databaseUrl: string;
  schema: string;
  env?: NodeJS.ProcessEnv;
  port?: number;
}

interface Supervised {
  child: ChildProcess;
  ready: boolean;
  logs: () => string;
  killHard: () => void;
}

const supervised = new Set<Supervised>();
const tempDirs: string[] = [];

afterAll(async () => {
  for (const entry of supervised) {
    // A process that never answered explains a hung test only through its output.
    if (!entry.ready) console.error(`[e2e] process never became ready; its output:\n${entry.logs()}`);
    if (entry.child.exitCode === null && entry.child.signalCode === null) entry.killHard();
  }
  supervised.clear();
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/**
 * Keeps a server process's output, restarts it on demand, and waits until /healthz answers 200.
 * A `group` process was spawned detached, leading a process group of its own: SIGKILL goes to
 * the whole group so that its children (the launcher's app) do not outlive it.
 */
async function supervise(launch: () => ChildProcess, port: number, { group = false } = {}): Promise<AppProcess> {
  const baseUrl = `http://127.0.0.1:${port}`;
  let output = '';
  let current!: Supervised;

  const begin = async () => {
    const child = launch();
    const killHard = () => (group && child.pid ? process.kill(-child.pid, 'SIGKILL') : child.kill('SIGKILL'));
    current = { child, ready: false, logs: () => output, killHard };
    supervised.add(current);
    child.stdout?.on('data', (chunk) => (output += chunk));
    child.stderr?.on('data', (chunk) => (output += chunk));
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`the app exited (${child.signalCode ?? `code ${child.exitCode}`}) before answering:\n${output}`);
      }
      const healthy = await fetch(`${baseUrl}/healthz`).then((r) => r.ok, () => false);
      if (healthy) break;
      await delay(100);
    }
    current.ready = true;
  };

  const stopWith = async (signal: NodeJS.Signals) => {
    const { child, killHard } = current;
    const code = exited(child);
    if (signal === 'SIGKILL') killHard();
    else child.kill(signal);
    const result = await code;
    supervised.delete(current);
    return result;
  };

  await begin();
  return {
    baseUrl,
    stop: (signal = 'SIGTERM') => stopWith(signal),
    kill: async () => {
      await stopWith('SIGKILL');
    },
    logs: () => output,
    restart: async () => {
      if (current.child.exitCode === null && current.child.signalCode === null) throw new Error('restart() needs the app stopped first');
      output += '\n[e2e] --- restart ---\n';
      await begin();
    },
  };
}

/** The variables both the app and the launcher get: database, schema, port, quick sleeps. */
function baseEnv(options: AppOptions, port: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    WORKFLOW_POSTGRES_URL: options.databaseUrl,
    WORKFLOW_POSTGRES_SCHEMA: options.schema,
    PORT: String(port),
    ORDER_COOLING_OFF: '1s',
  };
  delete env.WORKFLOW_TARGET_WORLD;
  delete env.DATABASE_URL;
  if (e2eWorld === 'local') {
    const localDataDir = mkdtempSync(join(tmpdir(), 'order-app-local-'));
    tempDirs.push(localDataDir);
    Object.assign(env, worldEnv('local', { localDataDir }));
  }
  return { ...env, ...options.env };
}

/** Builds the example once per change (lock-guarded across test files) and serves it on a free port. */
export async function startApp(options: AppOptions): Promise<AppProcess> {
  await buildOrderApp();
  const port = options.port ?? (await freePort());
  const env = { ...worldEnv('postgres'), ...baseEnv(options, port) };
  return supervise(() => spawnOrderApp({ env, stdio: ['ignore', 'pipe', 'pipe'] }), port);
}

/**
 * Runs `npm start` itself (scripts/start.mjs), which builds what is missing and picks the World:
 * ours unless the environment says local. Without a database URL it starts its embedded server.
 */
export async function startLauncher(options: AppOptions): Promise<AppProcess> {
  const port = options.port ?? (await freePort());
  const env = baseEnv(options, port);
  return supervise(
    () => spawn(process.execPath, ['scripts/start.mjs'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true }),
    port,
    { group: true },
  );
}

/** One line of an order's progress stream (see examples/order-app/workflows/order.ts). */
export interface Progress {
  stage: string;
  at: string;
  [detail: string]: unknown;
}

export interface OrderStatus {
  orderId: string;
  status: 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';
  result?: Record<string, unknown>;
  error?: string;
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

async function json<T>(response: Response, expected: number): Promise<T> {
  const text = await response.text();
  if (response.status !== expected) throw new Error(`${response.url}: expected ${expected}, got ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

export async function placeOrder(baseUrl: string, order: Record<string, unknown> = {}): Promise<string> {
  const response = await fetch(`${baseUrl}/orders`, { method: 'POST', body: JSON.stringify(order) });
  return (await json<{ orderId: string }>(response, 202)).orderId;
}

export async function getOrder(baseUrl: string, orderId: string): Promise<OrderStatus> {
  return json<OrderStatus>(await fetch(`${baseUrl}/orders/${orderId}`), 200);
}

/** Polls the order until it is completed, failed or cancelled (or `signal` aborts). */
export async function settledOrder(baseUrl: string, orderId: string, signal?: AbortSignal): Promise<OrderStatus> {
  for (;;) {
    const order = await getOrder(baseUrl, orderId);
    if (TERMINAL.has(order.status)) return order;
    await delay(200, undefined, { signal });
  }
}

/**
 * Reads `GET /orders/:id/progress` (or the run's named `stream`) as it arrives. `until(stage)` resolves once that stage has
 * been read; `ended` resolves with every line when the server closes the stream. Both reject
 * if the order fails or is cancelled first, so a broken run fails the test with its error
 * instead of waiting forever on a stream nobody will close.
 */
export function followProgress(baseUrl: string, orderId: string, startIndex = 0, stream?: string) {
  const events: Progress[] = [];
  const abort = new AbortController();
  const waiters: { stage: string; resolve: () => void }[] = [];

  const read = (async () => {
    const query = `startIndex=${startIndex}${stream ? `&stream=${encodeURIComponent(stream)}` : ''}`;
    const response = await fetch(`${baseUrl}/orders/${orderId}/progress?${query}`, { signal: abort.signal });
    if (!response.ok || !response.body) throw new Error(`progress: ${response.status} ${await response.text()}`);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffered += value;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const event = JSON.parse(buffered.slice(0, newline)) as Progress;
        buffered = buffered.slice(newline + 1);
        events.push(event);
        for (const waiter of waiters.filter((w) => w.stage === event.stage)) waiter.resolve();
      }
    }
    return events;
  })();

  // A completed order has closed its stream, so only failure and cancellation end the wait here.
  const broken = settledOrder(baseUrl, orderId, abort.signal).then((order) => {
    if (order.status === 'completed') return new Promise<never>(() => {});
    throw new Error(`order ${orderId} ${order.status}: ${order.error ?? 'no error'}; progress so far: ${JSON.stringify(events)}`);
  });
  const unlessBroken = <T>(promise: Promise<T>) => Promise.race([promise, broken]);
  const ended = unlessBroken(read).finally(() => abort.abort());
  // Whichever of these nobody awaits must not surface as an unhandled rejection.
  for (const promise of [read, broken, ended]) promise.catch(() => {});

  return {
    events,
    ended,
    until: (stage: string) =>
      unlessBroken(
        new Promise<void>((resolve) => {
          if (events.some((e) => e.stage === stage)) resolve();
          else waiters.push({ stage, resolve });
        }),
      ),
    cancel: () => abort.abort(),
  };
}

/** Approves an order; 409 (not waiting for approval yet) is retried a bounded number of times. */
export async function approveOrder(baseUrl: string, orderId: string, approvedBy = 'e2e'): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const response = await fetch(`${baseUrl}/orders/${orderId}/approve`, { method: 'POST', body: JSON.stringify({ approvedBy }) });
    if (response.status !== 409 || attempt === 50) return void (await json(response, 202));
    await response.text();
    await delay(200);
  }
}

/**
 * Drives one order over HTTP from checkout to its end: places it, follows its progress live,
 * approves it once it waits for approval, and returns the live progress and the final status.
 */
export async function driveOrder(
  baseUrl: string,
  { coolingOff = '1s', approvedBy = 'e2e' }: { coolingOff?: string; approvedBy?: string } = {},
): Promise<{ orderId: string; events: Progress[]; final: OrderStatus }> {
  const orderId = await placeOrder(baseUrl, { coolingOff });
  const progress = followProgress(baseUrl, orderId);
  try {
    await progress.until('awaiting-approval');
    await approveOrder(baseUrl, orderId, approvedBy);
    const events = await progress.ended;
    return { orderId, events, final: await settledOrder(baseUrl, orderId) };
  } finally {
    progress.cancel();
  }
}
