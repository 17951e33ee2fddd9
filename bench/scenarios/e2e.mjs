// Scenario 2 — end to end through the real runtime (workflow@4.8.9): the app in bench/e2e-app
// (built once with `wf build --target standalone`) runs on each World in a server process of
// its own, on a fresh database. Both servers run side by side and their batches alternate.
//   sequential: K runs × S sequential steps;  fanout: K runs × N parallel steps
// Reported: completed steps/s, run start→complete p50/p99, queue wake-up (queue() → handler
// start of the first delivery), server CPU per step, Postgres commits per completed step
// (a separate pass through the counting proxy), and a CPU profile of this World's server.
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { adminSql, aggregate, backendCpuSeconds, BASE_URL, dbUrl, DATABASES, sleep, summarize, viaPort } from '../lib/common.mjs';
import { summarizeProfile } from '../lib/cpuprofile.mjs';
import { startCountingProxy } from '../lib/pgproxy.mjs';
import { dropDatabase, migrateAnchor, migrateOurs, recreateDatabase, ROOT } from '../lib/targets.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const APP = path.join(here, '..', 'e2e-app');
const V1 = path.join(APP, '.well-known', 'workflow', 'v1');
const INNER = { ours: path.join(ROOT, 'dist', 'index.cjs'), 'ours-otel': path.join(ROOT, 'dist', 'index.cjs'), anchor: '@workflow/world-postgres' };
const MIGRATE = { ours: migrateOurs, 'ours-otel': migrateOurs, anchor: migrateAnchor };
/** 'ours-otel': this World in a server with an OpenTelemetry SDK registered (lib/otel-in-memory.mjs). */
const OTEL_PRELOAD = `--import ${pathToFileURL(path.join(ROOT, 'bench', 'lib', 'otel-in-memory.mjs')).href}`;

/** `wf build` of the app unless its sources and the workflow version are unchanged. */
export async function buildApp() {
  const hash = createHash('sha256');
  for (const f of ['workflows/bench.ts', 'package.json']) hash.update(readFileSync(path.join(APP, f)));
  hash.update(readFileSync(path.join(ROOT, 'node_modules', 'workflow', 'package.json')));
  const digest = hash.digest('hex');
  const stamp = path.join(APP, '.build-stamp');
  if (existsSync(path.join(V1, 'flow.js')) && existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) return false;
  const wf = path.join(ROOT, 'node_modules', 'workflow', 'bin', 'run.js');
  await promisify(execFile)(process.execPath, [wf, 'build', '--target', 'standalone'], { cwd: APP });
  writeFileSync(stamp, digest);
  return true;
}

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

async function startServer(target, url) {
  const port = await freePort();
  const args = ['server.mjs'];
  const child = spawn(process.execPath, args, {
    cwd: APP,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      WORKFLOW_TARGET_WORLD: path.join(APP, 'timing-world.cjs'),
      BENCH_INNER_WORLD: INNER[target],
      WORKFLOW_POSTGRES_URL: url,
      PORT: String(port),
      WORKFLOW_LOCAL_BASE_URL: `http://127.0.0.1:${port}`,
      ...(target === 'ours-otel' ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${OTEL_PRELOAD}`.trim() } : {}),
    },
  });
  let log = '';
  child.stdout.on('data', (c) => (log = (log + c).slice(-20_000)));
  child.stderr.on('data', (c) => (log = (log + c).slice(-20_000)));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${target} server exited: ${log.slice(-2000)}`);
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {}
    if (Date.now() > deadline) throw new Error(`${target} server not ready: ${log.slice(-2000)}`);
    await sleep(200);
  }
  return {
    async batch(body) {
      const res = await fetch(`${base}/bench`, { method: 'POST', body: JSON.stringify(body) });
      const out = await res.json();
      if (!res.ok) throw new Error(`${target} batch failed: ${out.error}\n${log.slice(-1500)}`);
      return out;
    },
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      await fetch(`${base}/exit`, { method: 'POST' }).catch(() => child.kill('SIGTERM'));
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    },
    async post(route, body = {}) {
      const res = await fetch(`${base}${route}`, { method: 'POST', body: JSON.stringify(body) });
      if (!res.ok) throw new Error(`${target} ${route}: ${res.status}`);
    },
    logs: () => log,
  };
}

const SHAPES = (quick) =>
  quick
    ? { sequential: { workflow: 'sequential', arg: 3, runs: 2 }, fanout: { workflow: 'fanout', arg: 4, runs: 1 } }
    : { sequential: { workflow: 'sequential', arg: 10, runs: 20 }, fanout: { workflow: 'fanout', arg: 25, runs: 4 } };
const stepsOf = (b) => b.arg * b.runs;

function summarizeBatches(batches, shape) {
  const steps = stepsOf(shape);
  const run = summarize(batches.flatMap((b) => b.runMs));
  const wake = summarize(batches.flatMap((b) => b.wakeups));
  const sps = aggregate(batches.map((b) => (steps * 1000) / b.elapsedMs));
  return {
    shape: `${shape.runs} runs × ${shape.arg} ${shape.workflow === 'fanout' ? 'parallel' : 'sequential'} steps`,
    stepsPerSec: sps.median,
    stepsPerSecSpread: sps.spread,
    runP50: run.p50,
    runP99: run.p99,
    wakeP50: wake.p50,
    wakeP99: wake.p99,
    cpuMsPerStep: aggregate(batches.map((b) => b.cpuMs / steps)).median,
    pgCpuMsPerStep: aggregate(batches.map((b) => (b.pgCpuMs === null ? null : b.pgCpuMs / steps))).median,
    failed: batches.reduce((a, b) => a + b.failed, 0),
    reps: batches.length,
  };
}

export async function runE2e({ quick = false, reps = 3, otel = false, onProgress = () => {} }) {
  const shapes = SHAPES(quick);
  if (quick) reps = 1;
  onProgress('building the app (wf build)');
  await buildApp();
  const targets = otel ? ['ours', 'ours-otel', 'anchor'] : ['ours', 'anchor'];
  const dbs = Object.fromEntries(targets.map((t) => [t, `${DATABASES[t === 'ours-otel' ? 'ours' : t]}${t === 'ours-otel' ? '_otel' : ''}_e2e`]));
  const out = {
    description: `Sequential: ${shapes.sequential.runs} concurrent runs × ${shapes.sequential.arg} sequential steps; fan-out: ${shapes.fanout.runs} runs × ${shapes.fanout.arg} parallel steps. One server process per World (default settings: queue concurrency 10, pool 10), started on a fresh database, both up at once, batches alternating; median of ${reps} batches (steps/s), latencies over all batches. The step does no work. Wake-up = queue() call → handler start of that message's first delivery, timed inside the server. Commits per step: a separate sequential batch through the counting proxy (every transaction of the server, background work included).`,
  };
  const servers = {};
  try {
    for (const t of targets) {
      onProgress(`e2e ${t}: fresh database`);
      await recreateDatabase(dbs[t]);
      await MIGRATE[t](dbUrl(dbs[t]));
      servers[t] = await startServer(t, dbUrl(dbs[t]));
      await servers[t].batch({ workflow: 'sequential', arg: 2, runs: 2 }); // warm
      await servers[t].batch({ workflow: 'fanout', arg: 3, runs: 1 });
      out[t] = {};
    }
    const raw = Object.fromEntries(targets.map((t) => [t, { sequential: [], fanout: [] }]));
    const monitor = adminSql(BASE_URL);
    for (let r = 0; r < reps; r++) {
      for (const [k, shape] of Object.entries(shapes)) {
        for (const t of r % 2 ? [...targets].reverse() : targets) {
          onProgress(`e2e ${k} ${t}, batch ${r + 1}/${reps}`);
          const pg0 = await backendCpuSeconds(monitor, dbs[t]);
          const b = await servers[t].batch(shape);
          const pg1 = await backendCpuSeconds(monitor, dbs[t]);
          // PostgreSQL CPU of the backends connected before and after (pools keep theirs open)
          b.pgCpuMs = pg0 && pg1 && pg1.pids.every((p) => pg0.pids.includes(p)) ? (pg1.seconds - pg0.seconds) * 1000 : null;
          raw[t][k].push(b);
        }
      }
    }
    await monitor.end();
    for (const t of targets) for (const [k, shape] of Object.entries(shapes)) out[t][k] = summarizeBatches(raw[t][k], shape);
  } finally {
    await Promise.all(Object.values(servers).map((s) => s.stop().catch(() => {})));
  }

  // commits per completed step: one server at a time through the counting proxy
  for (const t of targets) {
    onProgress(`e2e ${t}: counting commits per step`);
    const url = dbUrl(dbs[t]);
    const proxy = await startCountingProxy(url, { captureText: true });
    const server = await startServer(t, viaPort(url, proxy.port));
    try {
      await server.batch({ workflow: 'sequential', arg: 2, runs: 1 });
      await sleep(300);
      const p0 = proxy.snapshot();
      const texts0 = proxy.texts();
      const shape = shapes.sequential;
      await server.batch(shape);
      const p1 = proxy.snapshot();
      out[t].statementsByText = [...proxy.texts()]
        .map(([text, n]) => ({ perStep: (n - (texts0.get(text) ?? 0)) / stepsOf(shape), text: text.slice(0, 140) }))
        .filter((r) => r.perStep > 0)
        .sort((a, b) => b.perStep - a.perStep)
        .slice(0, 15);
      out[t].commitsPerStep = (p1.transactions - p0.transactions) / stepsOf(shape);
      out[t].statementsPerStep = (p1.statements - p0.statements) / stepsOf(shape);
      out[t].connectionsOpened = p1.connections;
    } finally {
      await server.stop();
      await proxy.close();
    }
  }

  // CPU profile of this World's server over one batch of each shape (after a warm-up batch),
  // taken in-process with node:inspector so that startup is not in it
  onProgress('e2e ours: CPU profile');
  const file = path.join(os.tmpdir(), `wwp-bench-e2e-${process.pid}.cpuprofile`);
  const profiled = await startServer('ours', dbUrl(dbs.ours));
  let profiledSteps = 0;
  let batchCpuMs = 0;
  try {
    await profiled.batch(shapes.sequential);
    await profiled.post('/profile/start');
    for (const shape of Object.values(shapes)) {
      batchCpuMs += (await profiled.batch(shape)).cpuMs;
      profiledSteps += stepsOf(shape);
    }
    await profiled.post('/profile/stop', { file });
  } finally {
    await profiled.stop();
  }
  if (existsSync(file)) {
    const p = summarizeProfile(file, E2E_OWNERS);
    out.profile = {
      busyMs: p.busyMs, shares: p.shares, top: p.top.slice(0, 12), stepsProfiled: profiledSteps,
      cpuMsPerStep: batchCpuMs / profiledSteps,
      worldMsPerStep: ((p.shares[E2E_OWNERS[3][0]] ?? 0) * p.busyMs) / profiledSteps,
      runtimeMsPerStep: ((p.shares[E2E_OWNERS[4][0]] ?? 0) * p.busyMs) / profiledSteps,
    };
    rmSync(file, { force: true });
  }
  for (const t of targets) await dropDatabase(dbs[t]).catch(() => {});
  return out;
}

/** Owners for the e2e profile: this World with its own dependencies versus the runtime. */
export const E2E_OWNERS = [
  ['(idle)', (u, n) => n === '(idle)'],
  // the inspector's own dispatch of Profiler.start/stop (logging existing code at start)
  ['(profiler)', (u, n) => n === 'dispatch' && u === ''],
  ['garbage collection', (u, n) => n === '(garbage collector)'],
  ['this World (dist/ + postgres.js, cbor-x, kysely, ulid, zod)', (u) => u.includes(`${ROOT}/dist/`) || /\/node_modules\/(postgres|cbor-x|cbor-extract|kysely|ulid|zod)\//.test(u)],
  ['workflow runtime (app bundles with @workflow/core inlined, workflow/api)', (u) => /\.well-known\/workflow\/|@workflow\/|\/node_modules\/(workflow|devalue|ms|seedrandom|nanoid)\//.test(u)],
  ['bench harness (server.mjs, timing wrapper)', (u) => /\/bench\/e2e-app\/(server\.mjs|timing-world\.cjs)/.test(u)],
  ['node internals (http, streams, timers, crypto, fetch)', (u) => /^node:|internal\/|undici/.test(u)],
  ['other modules', (u) => /node_modules/.test(u)],
  ['V8/native (program, builtins)', () => true],
];
