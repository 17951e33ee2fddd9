import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import type { World } from '@workflow/world';
import { expect } from 'vitest';
import type { Area } from '../area.js';
import { createRun, runningRun, send, startRun } from '../fixtures.js';
import { type Loose, newRunId, payload, readAll, rejection, text, ulid } from '../util.js';

/**
 * A child process that loads the World as the runtime does, runs `body` and must then exit on
 * its own: a handle left open (socket, timer, listener) keeps it alive and fails the test.
 */
async function exitsOnItsOwn(module: { specifier: string; cwd: string }, body: string, seconds = 20): Promise<{ code: number | null; output: string; alive: boolean }> {
  const localPath = module.specifier === 'local' ? resolveLocal(module.cwd) : '';
  const script = `
    const { createRequire } = require('node:module');
    const path = require('node:path');
    const spec = ${JSON.stringify(module.specifier)};
    const req = createRequire(path.join(process.cwd(), 'index.js'));
    let factory;
    if (spec === 'local') {
      const m = require(${JSON.stringify(localPath)});
      factory = () => m.createLocalWorld({ dataDir: process.env.WORKFLOW_LOCAL_DATA_DIR });
    } else {
      const m = req(spec);
      factory = typeof m === 'function' ? m : typeof m.default === 'function' ? m.default : m.createWorld;
    }
    (async () => { ${body} })().then(
      () => { process.stdout.write('BODY_DONE\\n'); },
      (error) => { console.error('BODY_FAILED', error); process.exitCode = 3; },
    );`;
  const child = spawn(process.execPath, ['-e', script], { cwd: module.cwd, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const timer = new Promise<'alive'>((resolve) => setTimeout(() => resolve('alive'), seconds * 1000).unref());
  const outcome = await Promise.race([exited, timer]);
  if (outcome === 'alive') {
    child.kill('SIGKILL');
    await exited;
    return { code: null, output, alive: true };
  }
  return { code: outcome, output, alive: false };
}

function resolveLocal(cwd: string): string {
  try {
    return createRequire(`${cwd}/index.js`).resolve('@workflow/world-local');
  } catch {
    return createRequire(import.meta.url).resolve('@workflow/world-local');
  }
}

const FUNCTIONS = ['getDeploymentId', 'queue', 'createQueueHandler', 'writeToStream', 'closeStream', 'readFromStream', 'listStreamsByRunId', 'getStreamChunks', 'getStreamInfo'] as const;

/** docs/world-contract.md §1.2–1.3 (construction), §2.9 (lifecycle). */
export function lifecycleArea({ must, capabilities, module }: Area): void {
  const noSecond = capabilities.multipleInstances ? false : 'capability multipleInstances is off';
  const noModule = module ? false : 'needs the World as a module specifier (the CLI passes one)';

  must('the World has every interface function, and each works detached from the object (no `this`)', async ({ world }) => {
    for (const f of FUNCTIONS) expect(typeof world[f], f).toBe('function');
    for (const group of ['runs', 'steps', 'events', 'hooks'] as const) expect(typeof world[group], group).toBe('object');
    const { getDeploymentId, createQueueHandler, writeToStream, closeStream, readFromStream, getStreamInfo, listStreamsByRunId } = world;
    const { create } = world.events;
    const { get } = world.runs;
    const { list } = world.steps;
    const { getByToken } = world.hooks;
    expect(typeof (await getDeploymentId())).toBe('string');
    const route = createQueueHandler('__wkf_workflow_', async () => undefined);
    expect(typeof route).toBe('function');
    const runId = newRunId();
    await create(runId, { eventType: 'run_created', specVersion: 3, eventData: { deploymentId: 'd', workflowName: 'w', input: payload(1) } } as Loose);
    expect((await get(runId)).runId).toBe(runId);
    expect((await list({ runId })).data).toEqual([]);
    expect(await rejection(getByToken('no-such-token'))).toMatchObject({ name: 'HookNotFoundError' });
    const name = `strm_${ulid()}`;
    await writeToStream(name, runId, 'x');
    await closeStream(name, runId);
    expect((await getStreamInfo(name, runId)).done).toBe(true);
    expect(await listStreamsByRunId(runId)).toEqual([name]);
    expect((await readAll(await readFromStream(name))).map(text)).toEqual(['x']);
  });

  must('storage and streams work on an instance that was never started', async ({ world }) => {
    const runId = await runningRun(world);
    await send(world, runId, { eventType: 'run_completed', eventData: { output: payload(1) } });
    expect((await world.runs.get(runId)).status).toBe('completed');
    await world.writeToStream(`strm_${ulid()}`, runId, 'x');
  });

  must('start() is idempotent: twice in a row and twice concurrently', async ({ world, worlds }) => {
    await world.start?.();
    await world.start?.();
    const other = await worlds.create();
    await Promise.all([other.start?.(), other.start?.()]);
    await createRun(world);
  });

  must('close() twice resolves, after use and after start()', async ({ worlds }) => {
    const used = await worlds.create();
    await runningRun(used);
    await used.close?.();
    await used.close?.();
    const started = await worlds.create();
    await started.start?.();
    await createRun(started);
    await Promise.all([started.close?.(), started.close?.()]);
    await started.close?.();
  });

  must('close() on an instance that never connected or started resolves (twice)', async ({ worlds }) => {
    const idle = await worlds.create();
    await idle.close?.();
    await idle.close?.();
  });

  must('instances coexist: closing one leaves another on the same storage working', async ({ world, worlds }) => {
    const other: World = await worlds.create();
    const runId = await createRun(world);
    await startRun(other, runId);
    await world.close?.();
    expect((await other.runs.get(runId)).status).toBe('running');
    await send(other, runId, { eventType: 'run_completed', eventData: { output: payload(1) } });
    const name = `strm_${ulid()}`;
    await other.writeToStream(name, runId, 'still here');
    await other.closeStream(name, runId);
    expect((await readAll(await other.readFromStream(name))).map(text)).toEqual(['still here']);
  }, { skip: noSecond });

  must('the module’s factory returns the World synchronously (the runtime never awaits it)', async () => {
    const { loadWorldFactory } = await import('../load-world.js');
    const made = loadWorldFactory(module!.specifier, module!.cwd)() as unknown;
    try {
      expect(made).toBeTypeOf('object');
      expect(typeof (made as { then?: unknown }).then).not.toBe('function');
      expect(typeof (made as World).createQueueHandler).toBe('function');
      const spec = (made as World).specVersion;
      expect(spec === undefined || typeof spec === 'number').toBe(true);
    } finally {
      await (made as World).close?.();
    }
  }, { skip: noModule });

  must('building the World opens nothing that keeps a process alive (no I/O in the factory)', async () => {
    const r = await exitsOnItsOwn(module!, `const w = factory(); void w.specVersion; w.createQueueHandler('__wkf_step_', async () => {});`);
    expect(r.alive, `the process was still alive 20 s after building the World\n${r.output.slice(0, 2000)}`).toBe(false);
    expect(r.code, r.output.slice(0, 2000)).toBe(0);
  }, { skip: noModule, timeout: 60_000 });

  must('after use and close(), nothing keeps the process alive', async () => {
    const r = await exitsOnItsOwn(
      module!,
      `const w = factory();
       const runId = 'wrun_' + ${JSON.stringify(ulid().slice(0, 10))} + require('node:crypto').randomBytes(8).toString('hex').toUpperCase().replace(/[ILOU]/g, 'A').slice(0, 16);
       await w.events.create(runId, { eventType: 'run_created', specVersion: 3, eventData: { deploymentId: 'd', workflowName: 'w', input: new Uint8Array([1]) } });
       await w.runs.get(runId);
       await w.writeToStream('strm_' + runId.slice(5), runId, 'x');
       await w.close?.();`,
    );
    expect(r.alive, `the process was still alive 20 s after close()\n${r.output.slice(0, 2000)}`).toBe(false);
    expect(r.code, r.output.slice(0, 2000)).toBe(0);
    expect(r.output).toContain('BODY_DONE');
  }, { skip: noModule, timeout: 60_000 });
}
