// Layer 2 server of workflow-world-testing: a plain node:http host for the bundles `wf build`
// (standalone target) writes to .well-known/workflow/v1/, with a small JSON API the suite drives.
// The World is whatever WORKFLOW_TARGET_WORLD names, resolved by the runtime from this process's
// working directory (the suite starts it in the directory where the World is installed).
//   POST /start/<workflow>   {"args": [...]}           -> {"runId"}
//   GET  /run/<runId>                                   -> {"status", "returnValue"?, "error"?}
//   GET  /run/<runId>/events                            -> {"events": [{eventType, correlationId}]}
//   GET  /stream/<runId>?startIndex=<n>                 -> NDJSON, one line per chunk, live
//   POST /hook/<token>       <json payload>             -> {"runId"} | 404 while no such hook
//   GET  /healthz                                       -> 200 once the World has started
//   /.well-known/workflow/v1/{flow,step,webhook/:token} -> the generated routes
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { getRun, resumeHook, start } from 'workflow/api';
import { getWorld } from 'workflow/runtime';

const require = createRequire(import.meta.url);
const V1 = '/.well-known/workflow/v1';
const routes = {
  flow: require(`.${V1}/flow.js`),
  step: require(`.${V1}/step.js`),
  // webhook.js is ESM importing `workflow/api`; this folder is CommonJS, so it loads as .mjs
  webhook: await import(`.${V1}/webhook.mjs`),
};

const manifest = JSON.parse(readFileSync(new URL(`.${V1}/manifest.json`, import.meta.url), 'utf8'));
const workflows = {};
for (const byName of Object.values(manifest.workflows)) {
  for (const [name, { workflowId }] of Object.entries(byName)) workflows[name] = { workflowId };
}

let ready = false;
const tails = new Set();

function toRequest(req) {
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  return new Request(new URL(req.url, `http://${req.headers.host ?? 'localhost'}`), {
    method: req.method,
    headers: req.headers,
    body: hasBody ? Readable.toWeb(req) : undefined,
    duplex: 'half',
  });
}

async function send(res, response) {
  res.writeHead(response.status, Object.fromEntries(response.headers));
  if (response.body) for await (const chunk of response.body) res.write(chunk);
  res.end();
}

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(`${JSON.stringify(body)}\n`);
}

async function readJson(req) {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text.trim() ? JSON.parse(text) : {};
}

const errorText = (error) => (error && typeof error === 'object' ? String(error.message ?? error) : String(error));

async function runStatus(runId) {
  const run = getRun(runId);
  const status = await run.status;
  const body = { runId, status };
  if (status === 'completed') body.returnValue = await run.returnValue;
  if (status === 'failed') {
    body.error = await run.returnValue.then(
      () => undefined,
      (error) => errorText(error.cause ?? error),
    );
    const world = getWorld();
    const stored = await world.runs.get(runId);
    body.storedError = stored.error;
  }
  return body;
}

async function runEvents(runId) {
  const world = getWorld();
  const events = [];
  let cursor;
  for (;;) {
    const page = await world.events.list({ runId, resolveData: 'none', pagination: { sortOrder: 'asc', limit: 1000, ...(cursor ? { cursor } : {}) } });
    for (const e of page.data) events.push({ eventType: e.eventType, correlationId: e.correlationId });
    if (!page.hasMore) return events;
    cursor = page.cursor;
  }
}

async function streamRun(res, runId, startIndex) {
  const reader = getRun(runId).getReadable({ startIndex }).getReader();
  tails.add(reader);
  res.on('close', () => reader.cancel().catch(() => {}));
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      res.write(`${JSON.stringify(value)}\n`);
    }
  } finally {
    tails.delete(reader);
    res.end();
  }
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://localhost');
  const path = url.pathname;
  try {
    if (path === `${V1}/flow`) return await send(res, await routes.flow[req.method](toRequest(req)));
    if (path === `${V1}/step`) return await send(res, await routes.step[req.method](toRequest(req)));
    if (path.startsWith(`${V1}/webhook/`)) return await send(res, await routes.webhook[req.method](toRequest(req)));
    if (path === '/healthz') return json(res, ready ? 200 : 503, { ready });
    if (req.method === 'POST' && path.startsWith('/start/')) {
      const workflow = workflows[decodeURIComponent(path.slice('/start/'.length))];
      if (!workflow) return json(res, 404, { error: `unknown workflow; known: ${Object.keys(workflows).join(', ')}` });
      const { args = [] } = await readJson(req);
      const run = await start(workflow, args);
      return json(res, 200, { runId: run.runId });
    }
    let m;
    if (req.method === 'GET' && (m = /^\/run\/([^/]+)\/events$/.exec(path))) return json(res, 200, { events: await runEvents(m[1]) });
    if (req.method === 'GET' && (m = /^\/run\/([^/]+)$/.exec(path))) return json(res, 200, await runStatus(m[1]));
    if (req.method === 'GET' && (m = /^\/stream\/([^/]+)$/.exec(path))) {
      return await streamRun(res, m[1], Number(url.searchParams.get('startIndex') ?? 0));
    }
    if (req.method === 'POST' && path.startsWith('/hook/')) {
      const payload = await readJson(req);
      try {
        const hook = await resumeHook(decodeURIComponent(path.slice('/hook/'.length)), payload);
        return json(res, 200, { runId: hook.runId });
      } catch (error) {
        if (error?.name === 'HookNotFoundError') return json(res, 404, { error: errorText(error) });
        throw error;
      }
    }
    json(res, 404, { error: `no route ${req.method} ${path}` });
  } catch (error) {
    console.error('[workflow-world-testing server]', error);
    if (!res.headersSent) json(res, 500, { error: errorText(error), name: error?.name });
    else res.end();
  }
});

const port = Number(process.env.PORT ?? 3000);
server.listen(port, async () => {
  // Applications start the World; the runtime never does (docs/world-contract.md §2.9).
  await getWorld().start?.();
  ready = true;
  console.log(`[workflow-world-testing server] listening on ${port}, world=${process.env.WORKFLOW_TARGET_WORLD ?? '(local)'}`);
});

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    for (const reader of tails) await reader.cancel().catch(() => {});
    server.closeAllConnections();
    server.close();
    await getWorld().close?.();
    process.exit(0);
  });
}
