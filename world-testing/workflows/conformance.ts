// Layer 2 workflows of workflow-world-testing: each one exercises what a World must get right
// for real runs (docs/world-contract.md), through the real runtime of workflow@4.8.9.
import { createHook, createWebhook, FatalError, getStepMetadata, getWritable, sleep } from 'workflow';
import { getRun, start } from 'workflow/api';

async function add(a: number, b: number) {
  'use step';
  return a + b;
}

/** addition: two steps in sequence. */
export async function addition(a: number, b: number) {
  'use workflow';
  const sum = await add(a, b);
  const doubled = await add(sum, sum);
  return { sum, doubled };
}

async function square(i: number) {
  'use step';
  return i * i;
}

/** idempotency: many steps created and completed concurrently in one suspension. */
export async function manySteps(n: number) {
  'use workflow';
  const squares = await Promise.all(Array.from({ length: n }, (_, i) => square(i)));
  return { count: squares.length, total: squares.reduce((a, b) => a + b, 0) };
}

/** hooks: one hook with a caller-chosen token, resumed `n` times. */
export async function hookLoop(token: string, n: number) {
  'use workflow';
  const hook = createHook<{ value: string }>({ token });
  const received: string[] = [];
  for await (const payload of hook) {
    received.push(payload.value);
    if (received.length >= n) break;
  }
  const total = await add(received.length, 0);
  return { received, total };
}

async function announce(writable: WritableStream<string>, line: string) {
  'use step';
  const writer = writable.getWriter();
  await writer.write(line);
  writer.releaseLock();
}

async function readRequest(request: Request) {
  'use step';
  return { method: request.method, body: await request.text() };
}

/** webhook: a generated URL announced on the run's stream, resumed by an HTTP request. */
export async function webhookOnce() {
  'use workflow';
  const webhook = createWebhook();
  await announce(getWritable<string>(), webhook.url);
  const request = await webhook;
  return await readRequest(request);
}

async function flaky(failures: number) {
  'use step';
  const { attempt } = getStepMetadata();
  if (attempt <= failures) throw new Error(`flaky attempt ${attempt}`);
  return attempt;
}

async function fatal(message: string) {
  'use step';
  throw new FatalError(message);
}

/** errors: a step that fails twice then succeeds (retried), a fatal step caught by the workflow. */
export async function retryThenCatch() {
  'use workflow';
  const attempts = await flaky(2);
  try {
    await fatal('caught fatal');
    return { attempts, caught: null };
  } catch (error) {
    return { attempts, caught: (error as Error).message };
  }
}

/** errors: a fatal step error the workflow does not catch fails the run. */
export async function uncaughtFatal(message: string) {
  'use workflow';
  await add(1, 1);
  await fatal(message);
  return 'unreachable';
}

async function echo(value: string) {
  'use step';
  return `${value}\u0000step`;
}

/** null bytes: U+0000 in input, step result, output and (failing) error messages. */
export async function nullBytes(value: string) {
  'use workflow';
  const echoed = await echo(value);
  try {
    await fatal(`fatal\u0000${value}`);
  } catch (error) {
    return { echoed, caught: (error as Error).message };
  }
  return { echoed, caught: null };
}

/** sleep: a durable timer, then a step. */
export async function sleeper(duration: string) {
  'use workflow';
  const before = Date.now();
  await sleep(duration);
  const after = Date.now();
  const r = await add(1, 2);
  return { r, sleptMs: after - before };
}

async function emit(writable: WritableStream<string>, n: number, gapMs: number) {
  'use step';
  const writer = writable.getWriter();
  for (let i = 0; i < n; i++) {
    await writer.write(`line-${i}`);
    await new Promise((resolve) => setTimeout(resolve, gapMs));
  }
  writer.releaseLock();
  await writable.close();
  return n;
}

/** streams: chunks written over time by a step, for a live tail and for replays. */
export async function streamLines(n: number, gapMs: number) {
  'use workflow';
  const count = await emit(getWritable<string>(), n, gapMs);
  return { count };
}

export async function child(i: number) {
  'use workflow';
  const v = await square(i);
  return { i, v };
}

async function spawnChildren(n: number) {
  'use step';
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await start(child, [i])).runId);
  return ids;
}

async function awaitChild(runId: string) {
  'use step';
  return (await getRun(runId).returnValue) as { i: number; v: number };
}

/** child runs: a step starts `n` runs, other steps await their results. */
export async function fanOut(n: number) {
  'use workflow';
  const ids = await spawnChildren(n);
  const results = await Promise.all(ids.map((id) => awaitChild(id)));
  return { ids, values: results.map((r) => r.v) };
}
