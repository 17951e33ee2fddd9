// The e2e benchmark's server: hosts the `wf build` (standalone) bundles on node:http and runs
// batches of workflows on request, timing them in-process (see timing-world.cjs).
//   POST /bench {"workflow":"sequential"|"fanout","arg":10,"runs":20}  → timings of one batch
//   POST /profile/start, POST /profile/stop {"file": path}: V8 CPU profile (the .cpuprofile
//   format of node --cpu-prof) of exactly the batches in between, through node:inspector
//   GET /healthz; POST /exit (stops the World, then exits)
// Env: WORKFLOW_TARGET_WORLD (= ./timing-world.cjs), BENCH_INNER_WORLD, PORT, the World's own.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { start } from 'workflow/api';
import { getWorld } from 'workflow/runtime';

const require = createRequire(import.meta.url);
const V1 = '/.well-known/workflow/v1';
const handlers = { flow: require(`.${V1}/flow.js`), step: require(`.${V1}/step.js`) };
const timing = globalThis[Symbol.for('wwp-bench/timing')];
const manifest = JSON.parse(readFileSync(new URL(`.${V1}/manifest.json`, import.meta.url), 'utf8'));
const workflows = {};
for (const byName of Object.values(manifest.workflows)) for (const [name, wf] of Object.entries(byName)) workflows[name] = wf;
const world = getWorld();

const json = (res, status, body) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};
async function readJson(req) {
  let s = '';
  for await (const c of req) s += c;
  return s ? JSON.parse(s) : {};
}
function toRequest(req) {
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  return new Request(new URL(req.url, `http://${req.headers.host ?? 'localhost'}`), {
    method: req.method, headers: req.headers, body: hasBody ? Readable.toWeb(req) : undefined, duplex: 'half',
  });
}

function finished(runId, timeoutMs) {
  const done = timing.finished.get(runId);
  if (done) return Promise.resolve(done);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`run ${runId} did not finish in ${timeoutMs} ms`)), timeoutMs);
    timing.waiters.set(runId, (v) => {
      clearTimeout(timer);
      timing.waiters.delete(runId);
      resolve(v);
    });
  });
}

async function batch({ workflow, arg, runs, timeoutMs = 120_000 }) {
  const wf = workflows[workflow];
  if (!wf) throw new Error(`unknown workflow ${workflow}`);
  timing.wakeups.length = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const results = await Promise.all(
    Array.from({ length: runs }, async () => {
      const t = performance.now();
      const run = await start(wf, [arg]);
      const { at, type } = await finished(run.runId, timeoutMs);
      return { ms: at - t, type };
    }),
  );
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return {
    elapsedMs,
    runMs: results.map((r) => r.ms),
    failed: results.filter((r) => r.type !== 'run_completed').length,
    wakeups: [...timing.wakeups],
    cpuMs: (cpu.user + cpu.system) / 1000,
  };
}

const server = http.createServer(async (req, res) => {
  try {
    const { pathname } = new URL(req.url, 'http://x');
    if (pathname === `${V1}/flow` || pathname === `${V1}/step`) {
      const h = handlers[pathname.endsWith('flow') ? 'flow' : 'step'][req.method];
      const response = await h(toRequest(req));
      res.writeHead(response.status, Object.fromEntries(response.headers));
      if (response.body) for await (const c of response.body) res.write(c);
      return res.end();
    }
    if (pathname === '/healthz') return json(res, ready ? 200 : 503, { ready });
    if (pathname === '/bench' && req.method === 'POST') return json(res, 200, await batch(await readJson(req)));
    if (pathname === '/profile/start' && req.method === 'POST') {
      profiler = new Session();
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.setSamplingInterval', { interval: 500 });
      await profiler.post('Profiler.start');
      return json(res, 200, { ok: true });
    }
    if (pathname === '/profile/stop' && req.method === 'POST') {
      const { file } = await readJson(req);
      const { profile } = await profiler.post('Profiler.stop');
      profiler.disconnect();
      writeFileSync(file, JSON.stringify(profile));
      return json(res, 200, { ok: true });
    }
    if (pathname === '/exit' && req.method === 'POST') {
      json(res, 200, { ok: true });
      await (world.close?.() ?? Promise.resolve()).catch(() => {});
      setTimeout(() => process.exit(0), 50);
      return;
    }
    json(res, 404, { error: 'not found' });
  } catch (error) {
    console.error(error);
    if (!res.headersSent) json(res, 500, { error: String(error?.message ?? error) });
    else res.destroy();
  }
});

let ready = false;
let profiler;
server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  Promise.resolve(world.start?.()).then(
    () => (ready = true),
    (error) => {
      console.error('the World failed to start', error);
      process.exit(1);
    },
  );
});
process.on('SIGTERM', () => process.exit(0));
