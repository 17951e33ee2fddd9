// Scenario 1 — storage: events.create for whole run lifecycles
// (run_created, run_started, S × step_created/step_started/step_completed, run_completed)
// at 1 and 16 concurrent clients, then a counting pass through the loopback proxy:
// statements and PostgreSQL commits per lifecycle (S = 1, i.e. run_created + 5 events).
import { monotonicFactory } from 'ulid';
import { adminSql, backendCpuSeconds, BASE_URL, DATABASES, dbUrl, now, summarize } from '../lib/common.mjs';
import { countPerUnit } from '../lib/counting.mjs';
import { openTarget } from '../lib/targets.mjs';

const ulid = monotonicFactory();
const bytes = (n, seed) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
const INPUT = bytes(96, 1);
const RESULT = bytes(64, 2);
const OUTPUT = bytes(64, 3);
const EXECUTION_CONTEXT = { workflowCoreVersion: '4.8.9', traceCarrier: {}, features: {} };

/** One lifecycle's requests, in order. */
export function lifecycleRequests(steps) {
  const reqs = [
    { eventType: 'run_created', specVersion: 3, eventData: { deploymentId: 'bench', workflowName: 'workflow//bench//wf', input: INPUT, executionContext: EXECUTION_CONTEXT } },
    { eventType: 'run_started', specVersion: 3 },
  ];
  for (let i = 0; i < steps; i++) {
    const stepId = `step_${ulid()}`;
    reqs.push(
      { eventType: 'step_created', specVersion: 3, correlationId: stepId, eventData: { stepName: 'step//bench//add', input: INPUT } },
      { eventType: 'step_started', specVersion: 3, correlationId: stepId },
      { eventType: 'step_completed', specVersion: 3, correlationId: stepId, eventData: { result: RESULT } },
    );
  }
  reqs.push({ eventType: 'run_completed', specVersion: 3, eventData: { output: OUTPUT } });
  return reqs;
}

export async function runLifecycle(world, steps, latencies) {
  const runId = `wrun_${ulid()}`;
  for (const req of lifecycleRequests(steps)) {
    const t = now();
    await world.events.create(runId, req);
    latencies?.push(now() - t);
  }
  return runId;
}

/**
 * C clients run lifecycles back to back for `ms`; each finishes the lifecycle it is in.
 * Also reports CPU per event: this process (user + system) and the server backends serving it.
 */
export async function load(world, { clients, steps, ms, monitor, database }) {
  const latencies = [];
  let events = 0;
  const perLifecycle = 3 + 3 * steps;
  const server0 = monitor ? await backendCpuSeconds(monitor, database) : null;
  const cpu0 = process.cpuUsage();
  const start = now();
  const deadline = start + ms;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (now() < deadline) {
        await runLifecycle(world, steps, latencies);
        events += perLifecycle;
      }
    }),
  );
  const elapsed = now() - start;
  const cpu = process.cpuUsage(cpu0);
  const server1 = monitor ? await backendCpuSeconds(monitor, database) : null;
  const s = summarize(latencies);
  return {
    eventsPerSec: (events / elapsed) * 1000, p50: s.p50, p99: s.p99, mean: s.mean, events, elapsedMs: elapsed,
    clientCpuMsPerEvent: (cpu.user + cpu.system) / 1000 / events,
    // only backends present at both readings count (a pool may open more during the phase)
    serverCpuMsPerEvent: server0 && server1 ? (cpuOfSame(server0, server1) * 1000) / events : null,
  };
}

function cpuOfSame(a, b) {
  return b.pids.every((p) => a.pids.includes(p)) ? b.seconds - a.seconds : null;
}

/**
 * A warm contestant: the parent sends {cmd:'load', clients, ms, warmupMs} for each repetition,
 * interleaving the contestants, and {cmd:'count'} once. The process (and its JIT) stays warm; the
 * World is opened for each repetition and closed after it, so that only the contestant being
 * measured holds connections (the shared server's max_connections is finite).
 */
export async function session({ target, steps = 3 }) {
  const database = DATABASES[target];
  const url = dbUrl(database);
  const monitor = adminSql(BASE_URL);
  return {
    async handle(cmd) {
      if (cmd.cmd === 'load') {
        const { world, close } = await openTarget(target, { url, poolSize: 16 });
        try {
          await runLifecycle(world, steps); // connect, schema check, prepare
          if (cmd.warmupMs) await load(world, { clients: cmd.clients, steps, ms: cmd.warmupMs });
          return await load(world, { clients: cmd.clients, steps, ms: cmd.ms, monitor, database });
        } finally {
          await close();
        }
      }
      if (cmd.cmd === 'count') return count(target);
      throw new Error(`unknown command ${cmd.cmd}`);
    },
    close: () => monitor.end(),
  };
}

/** Statements and commits per lifecycle of one step (run_created + 5 events), fresh clients. */
export async function count(target, n2 = 23) {
  const database = DATABASES[target];
  const per = await countPerUnit({
    url: dbUrl(database),
    database,
    n2,
    open: async (u) => openTarget(target, { url: u, poolSize: 4 }),
    work: async ({ world }, n) => {
      for (let i = 0; i < n; i++) await runLifecycle(world, 1);
    },
  });
  return { ...per, events: 6 };
}
