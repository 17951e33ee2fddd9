import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { delay, nonce, waitFor } from '../util.js';
import { buildWorkflows, WORKFLOWS_DIR } from './build.js';
import { freePort, WorkflowServer } from './server.js';

export interface E2EOptions {
  /**
   * WORKFLOW_TARGET_WORLD for the server: a module specifier resolved from `cwd` (an absolute
   * path to a CommonJS entry works everywhere), or `local`. Defaults to the suite's specifier.
   */
  targetWorld?: string;
  /** Working directory of the server (where the runtime resolves the World). Default: the suite's cwd. */
  cwd?: string;
  /** Extra environment for the server: how the World finds its storage (URL, schema…). */
  env?: Record<string, string | undefined> | (() => Record<string, string | undefined> | Promise<Record<string, string | undefined>>);
  /** Folder with the workflows and server.mjs (default: this package's `workflows/`). */
  workflowsDir?: string;
  /** How long the server may take to build the World and answer /healthz (default 60 s). */
  startupTimeoutMs?: number;
}

interface RunView {
  runId: string;
  status: string;
  returnValue?: unknown;
  error?: string;
  storedError?: { message?: string };
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

/** Layer 2: real workflows (world-testing/workflows) through the real runtime of workflow@4.8.x. */
export function e2eArea(options: E2EOptions): void {
  let server: WorkflowServer | undefined;
  let setupError: unknown;
  const cleanup: string[] = [];

  beforeAll(async () => {
    try {
      if (!options.targetWorld) throw new Error('e2e needs targetWorld (a module specifier for WORKFLOW_TARGET_WORLD)');
      const workflowsDir = options.workflowsDir ?? WORKFLOWS_DIR;
      await buildWorkflows(workflowsDir);
      const extra = typeof options.env === 'function' ? await options.env() : (options.env ?? {});
      const env: NodeJS.ProcessEnv = { ...process.env, ...extra, WORKFLOW_TARGET_WORLD: options.targetWorld };
      if (options.targetWorld === 'local' && !extra.WORKFLOW_LOCAL_DATA_DIR) {
        const dir = mkdtempSync(join(tmpdir(), 'wwt-local-'));
        cleanup.push(dir);
        env.WORKFLOW_LOCAL_DATA_DIR = dir;
      }
      server = new WorkflowServer({
        workflowsDir,
        cwd: options.cwd ?? process.cwd(),
        env,
        port: await freePort(),
        startupTimeoutMs: options.startupTimeoutMs ?? 60_000,
      });
      await server.start();
    } catch (error) {
      setupError = error;
    }
  }, 180_000);

  afterAll(async () => {
    await server?.stop('SIGTERM');
    for (const dir of cleanup) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  const e2e = (title: string, fn: (s: WorkflowServer) => Promise<void>, timeout = 90_000) =>
    test(
      `[MUST] ${title}`,
      async () => {
        if (setupError) throw setupError;
        if (!server) throw new Error('the workflow server did not start');
        try {
          await fn(server);
        } catch (error) {
          if (error instanceof Error) error.message += `\n--- workflow server output (tail) ---\n${server.tail(3000)}`;
          throw error;
        }
      },
      timeout,
    );

  async function call<T>(s: WorkflowServer, path: string, init?: RequestInit, expected = 200): Promise<T> {
    const res = await fetch(`${s.baseUrl}${path}`, init);
    const text = await res.text();
    if (res.status !== expected) throw new Error(`${init?.method ?? 'GET'} ${path}: expected ${expected}, got ${res.status} ${text.slice(0, 500)}`);
    return JSON.parse(text) as T;
  }
  const startRun = async (s: WorkflowServer, workflow: string, args: unknown[]) =>
    (await call<{ runId: string }>(s, `/start/${workflow}`, { method: 'POST', body: JSON.stringify({ args }) })).runId;
  const view = (s: WorkflowServer, runId: string) => call<RunView>(s, `/run/${runId}`);
  const settled = (s: WorkflowServer, runId: string, timeoutMs = 60_000) =>
    waitFor(async () => {
      const v = await view(s, runId);
      return TERMINAL.has(v.status) ? v : undefined;
    }, `run ${runId} to finish`, timeoutMs, 200);
  const events = async (s: WorkflowServer, runId: string) =>
    (await call<{ events: { eventType: string; correlationId?: string }[] }>(s, `/run/${runId}/events`)).events;

  /** Reads the run's default stream as NDJSON lines, recording when each arrived. */
  async function readLines(s: WorkflowServer, runId: string, startIndex = 0, timeoutMs = 60_000) {
    const abort = AbortSignal.timeout(timeoutMs);
    const res = await fetch(`${s.baseUrl}/stream/${runId}?startIndex=${startIndex}`, { signal: abort });
    if (!res.ok || !res.body) throw new Error(`stream: ${res.status} ${await res.text()}`);
    const lines: { value: unknown; at: number }[] = [];
    let buffered = '';
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffered += value;
      let i: number;
      while ((i = buffered.indexOf('\n')) >= 0) {
        lines.push({ value: JSON.parse(buffered.slice(0, i)), at: Date.now() });
        buffered = buffered.slice(i + 1);
      }
    }
    return lines;
  }

  async function resume(s: WorkflowServer, token: string, payload: unknown): Promise<void> {
    await waitFor(async () => {
      const res = await fetch(`${s.baseUrl}/hook/${encodeURIComponent(token)}`, { method: 'POST', body: JSON.stringify(payload) });
      const text = await res.text();
      if (res.status === 404) return undefined; // the run has not created its hook yet
      if (!res.ok) throw new Error(`resumeHook: ${res.status} ${text}`);
      return true;
    }, `hook ${token} to accept a payload`, 30_000, 100);
  }

  e2e('addition: a two-step workflow completes with its result and a well-formed event log', async (s) => {
    const runId = await startRun(s, 'addition', [2, 3]);
    const run = await settled(s, runId);
    expect(run.status, run.error).toBe('completed');
    expect(run.returnValue).toEqual({ sum: 5, doubled: 10 });
    const types = (await events(s, runId)).map((e) => e.eventType);
    expect(types[0]).toBe('run_created');
    expect(types[1]).toBe('run_started');
    expect(types.at(-1)).toBe('run_completed');
    expect(types.filter((t) => t === 'step_completed').length).toBe(2);
  });

  e2e('idempotency: 40 concurrent steps each complete once', async (s) => {
    const runId = await startRun(s, 'manySteps', [40]);
    const run = await settled(s, runId, 90_000);
    expect(run.status, run.error).toBe('completed');
    const expected = Array.from({ length: 40 }, (_, i) => i * i).reduce((a, b) => a + b, 0);
    expect(run.returnValue).toEqual({ count: 40, total: expected });
    const log = await events(s, runId);
    const of = (t: string) => log.filter((e) => e.eventType === t).map((e) => e.correlationId);
    expect(of('step_created').length).toBe(40);
    expect(new Set(of('step_created')).size).toBe(40);
    expect(of('step_completed').length).toBe(40);
    expect(new Set(of('step_completed')).size).toBe(40);
  }, 120_000);

  e2e('hooks: one hook resumed three times delivers every payload in order', async (s) => {
    const token = `conformance-${nonce()}`;
    const runId = await startRun(s, 'hookLoop', [token, 3]);
    for (const value of ['first', 'second', 'third']) await resume(s, token, { value });
    const run = await settled(s, runId);
    expect(run.status, run.error).toBe('completed');
    expect(run.returnValue).toEqual({ received: ['first', 'second', 'third'], total: 3 });
    const types = (await events(s, runId)).map((e) => e.eventType);
    expect(types.filter((t) => t === 'hook_received').length).toBe(3);
    // the hook is gone with the run: its token is free again
    const res = await fetch(`${s.baseUrl}/hook/${token}`, { method: 'POST', body: '{"value":"late"}' });
    expect(res.status).toBe(404);
  });

  e2e('webhook: the generated URL resumes the run with the HTTP request', async (s) => {
    const runId = await startRun(s, 'webhookOnce', []);
    const url = await waitFor(async () => {
      const res = await fetch(`${s.baseUrl}/stream/${runId}`, { signal: AbortSignal.timeout(30_000) });
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = '';
      while (!text.includes('\n')) {
        const { done, value } = await reader.read();
        if (done) break;
        text += value;
      }
      await reader.cancel().catch(() => {});
      return text.includes('\n') ? (JSON.parse(text.slice(0, text.indexOf('\n'))) as string) : undefined;
    }, 'the webhook URL on the run stream', 30_000);
    const path = new URL(url).pathname;
    expect(path).toMatch(/\/\.well-known\/workflow\/v1\/webhook\/.+/);
    await waitFor(async () => {
      const res = await fetch(`${s.baseUrl}${path}`, { method: 'POST', body: 'hello webhook' });
      await res.text();
      return res.status < 300 ? true : res.status === 404 ? undefined : (() => { throw new Error(`webhook answered ${res.status}`); })();
    }, 'the webhook to accept the request', 30_000, 200);
    const run = await settled(s, runId);
    expect(run.status, run.error).toBe('completed');
    expect(run.returnValue).toEqual({ method: 'POST', body: 'hello webhook' });
  });

  e2e('errors: a step failing twice is retried to success; a fatal step error is caught by the workflow', async (s) => {
    const runId = await startRun(s, 'retryThenCatch', []);
    const run = await settled(s, runId, 90_000);
    expect(run.status, run.error).toBe('completed');
    expect(run.returnValue).toEqual({ attempts: 3, caught: 'caught fatal' });
    const types = (await events(s, runId)).map((e) => e.eventType);
    expect(types.filter((t) => t === 'step_retrying').length).toBe(2);
    expect(types).toContain('step_failed');
  }, 120_000);

  e2e('errors: an uncaught fatal step error fails the run with its message (U+0000 included)', async (s) => {
    const message = `uncaught\u0000${nonce()}`;
    const runId = await startRun(s, 'uncaughtFatal', [message]);
    const run = await settled(s, runId);
    expect(run.status).toBe('failed');
    expect(run.error ?? '').toContain(message);
    expect(run.storedError?.message ?? '').toContain(message);
    const types = (await events(s, runId)).map((e) => e.eventType);
    expect(types.at(-1)).toBe('run_failed');
  });

  e2e('null bytes: U+0000 survives workflow input, step result and caught error messages', async (s) => {
    const value = `a\u0000b\u0000`;
    const runId = await startRun(s, 'nullBytes', [value]);
    const run = await settled(s, runId);
    expect(run.status, run.error).toBe('completed');
    expect(run.returnValue).toEqual({ echoed: `${value}\u0000step`, caught: `fatal\u0000${value}` });
  });

  e2e('sleep: the run resumes after the duration, never before, and its clock agrees', async (s) => {
    const t0 = Date.now();
    const runId = await startRun(s, 'sleeper', ['2s']);
    const run = await settled(s, runId);
    const wall = Date.now() - t0;
    expect(run.status, run.error).toBe('completed');
    expect(wall).toBeGreaterThanOrEqual(2000 - 100);
    const result = run.returnValue as { r: number; sleptMs: number };
    expect(result.r).toBe(3);
    expect(result.sleptMs).toBeGreaterThanOrEqual(2000);
    const types = (await events(s, runId)).map((e) => e.eventType);
    expect(types).toEqual(expect.arrayContaining(['wait_created', 'wait_completed']));
  });

  e2e('streams: a live reader gets chunks while they are written; replays from 0 and from −3 match', async (s) => {
    const runId = await startRun(s, 'streamLines', [8, 250]);
    const live = await readLines(s, runId);
    expect(live.map((l) => l.value)).toEqual(Array.from({ length: 8 }, (_, i) => `line-${i}`));
    // 7 gaps of 250 ms: a live tail sees them spread out, a tail that only flushes at the end does not
    expect(live.at(-1)!.at - live[0]!.at).toBeGreaterThanOrEqual(1000);
    const run = await settled(s, runId);
    expect(run.status, run.error).toBe('completed');
    expect((await readLines(s, runId, 0)).map((l) => l.value)).toEqual(live.map((l) => l.value));
    expect((await readLines(s, runId, -3)).map((l) => l.value)).toEqual(['line-5', 'line-6', 'line-7']);
    expect((await readLines(s, runId, 6)).map((l) => l.value)).toEqual(['line-6', 'line-7']);
  });

  e2e('child runs: a step starts four runs, other steps await their results', async (s) => {
    const runId = await startRun(s, 'fanOut', [4]);
    const run = await settled(s, runId, 90_000);
    expect(run.status, run.error).toBe('completed');
    const result = run.returnValue as { ids: string[]; values: number[] };
    expect(result.values).toEqual([0, 1, 4, 9]);
    expect(new Set(result.ids).size).toBe(4);
    for (const id of result.ids) expect((await view(s, id)).status).toBe('completed');
  }, 120_000);

  e2e('many concurrent starts: 25 runs started at once all complete with their own results', async (s) => {
    const ids = await Promise.all(Array.from({ length: 25 }, (_, i) => startRun(s, 'addition', [i, 1])));
    expect(new Set(ids).size).toBe(25);
    const runs = await Promise.all(ids.map((id) => settled(s, id, 90_000)));
    expect(runs.map((r) => r.status)).toEqual(Array(25).fill('completed'));
    expect(runs.map((r) => (r.returnValue as { sum: number }).sum)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
  }, 120_000);

  e2e('crash: a server killed (SIGKILL) mid-sleep finishes the run after a restart', async (s) => {
    const t0 = Date.now();
    const runId = await startRun(s, 'sleeper', ['4s']);
    await waitFor(async () => (await events(s, runId)).some((e) => e.eventType === 'wait_created'), 'the run to start sleeping');
    await s.stop('SIGKILL');
    await delay(500);
    await s.start();
    const run = await settled(s, runId, 90_000);
    expect(run.status, run.error).toBe('completed');
    expect((run.returnValue as { r: number }).r).toBe(3);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(4000 - 100);
  }, 150_000);
}
