// The order app: a plain node:http server hosting the bundles that `wf build` (standalone
// target) writes to .well-known/workflow/v1/, plus a small JSON API around one workflow.
// Run it through `npm start` at the repository root, which builds everything and picks the
// World; by hand: `wf build` here, copy webhook.js to webhook.mjs, then
//   WORKFLOW_TARGET_WORLD=<path to dist/index.cjs> WORKFLOW_POSTGRES_URL=... PORT=3000 node server.mjs
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { getRun, resumeHook, start } from 'workflow/api';
import { HookNotFoundError, WorkflowRunNotFoundError } from 'workflow/errors';
import { getWorld } from 'workflow/runtime';
import { approvalToken } from './approval-token.mjs';

const require = createRequire(import.meta.url);
const V1 = '/.well-known/workflow/v1';
const port = Number(process.env.PORT ?? 3000);
const defaultCoolingOff = process.env.ORDER_COOLING_OFF || '3s';
const log = (message) => console.log(`[order-app] ${message}`);

// flow.js and step.js are CommonJS with the runtime inlined; loading them registers the queue
// handlers with the World named by WORKFLOW_TARGET_WORLD. webhook.js is ESM that imports
// `workflow/api`, so it is loaded from the .mjs copy the build makes (this folder is CommonJS).
const handlers = {
  flow: require(`.${V1}/flow.js`),
  step: require(`.${V1}/step.js`),
  webhook: await import(`.${V1}/webhook.mjs`),
};

// start() takes the workflow's id, which a bundler plugin would normally inject into the import.
const manifest = JSON.parse(readFileSync(new URL(`.${V1}/manifest.json`, import.meta.url), 'utf8'));
const processOrder = Object.values(manifest.workflows)
  .map((byName) => byName.processOrder)
  .find(Boolean);
if (!processOrder) throw new Error('processOrder is missing from the build manifest: run `wf build` again');

const world = getWorld();
let ready = false;
let stopping = false;
/** Progress readers still tailing a live run: cancelled at shutdown so the server can close. */
const tails = new Set();

/** An error answered with its status and message (anything else is a 500, and logged). */
class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function toRequest(req) {
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  return new Request(new URL(req.url, `http://${req.headers.host ?? 'localhost'}`), {
    method: req.method,
    headers: req.headers,
    body: hasBody ? Readable.toWeb(req) : undefined,
    duplex: 'half',
  });
}

async function sendResponse(res, response) {
  res.writeHead(response.status, Object.fromEntries(response.headers));
  if (response.body) for await (const chunk of response.body) res.write(chunk);
  res.end();
}

function sendJson(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(`${JSON.stringify(body)}\n`);
}

async function readJson(req) {
  req.setEncoding('utf8');
  let text = '';
  for await (const chunk of req) {
    text += chunk;
    if (text.length > 65_536) throw new HttpError(413, 'request body too large');
  }
  try {
    return text.trim() ? JSON.parse(text) : {};
  } catch {
    throw new HttpError(400, 'request body is not valid JSON');
  }
}

/** Builds the workflow input from a POST /orders body; every field has a default. */
function parseOrder(body) {
  const order = {
    customer: body.customer ?? 'ada@example.com',
    lines: body.lines ?? [{ sku: 'BOOK-42', quantity: 1, unitPrice: 25 }],
    coolingOff: body.coolingOff ?? defaultCoolingOff,
  };
  if (typeof order.customer !== 'string' || !order.customer) throw new HttpError(400, 'customer: expected a string');
  const validLine = (l) =>
    typeof l?.sku === 'string' && Number.isInteger(l.quantity) && l.quantity > 0 && Number.isFinite(l.unitPrice);
  if (!Array.isArray(order.lines) || order.lines.length === 0 || !order.lines.every(validLine)) {
    throw new HttpError(400, 'lines: expected a non-empty array of { sku, quantity, unitPrice }');
  }
  // The workflow's sleep() takes `ms` syntax; reject anything else here rather than fail the run.
  if (typeof order.coolingOff !== 'string' || !/^\d+(\.\d+)?\s*(ms|s|m|h|d)$/.test(order.coolingOff)) {
    throw new HttpError(400, "coolingOff: expected a duration such as '3s' or '1m'");
  }
  return order;
}

async function orderStatus(orderId) {
  const run = getRun(orderId);
  let status;
  try {
    status = await run.status;
  } catch (error) {
    if (WorkflowRunNotFoundError.is(error)) throw new HttpError(404, `no order ${orderId}`);
    throw error;
  }
  const body = { orderId, status };
  if (status === 'completed') body.result = await run.returnValue;
  if (status === 'failed') body.error = await run.returnValue.then(() => undefined, (error) => error.message);
  return body;
}

/**
 * Streams the run's progress as NDJSON: everything written so far, then live lines until the run
 * closes it. `namespace` picks one of the run's named streams (the order writes 'audit').
 */
async function streamProgress(res, orderId, startIndex, namespace) {
  const run = getRun(orderId);
  // An unknown stream reads as an open, empty one that would never end: check the order first.
  if (!(await run.exists)) throw new HttpError(404, `no order ${orderId}`);
  const reader = run.getReadable({ startIndex, namespace }).getReader();
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

async function approve(req, res, orderId) {
  const { approvedBy = 'operator' } = await readJson(req);
  if (typeof approvedBy !== 'string' || !approvedBy) throw new HttpError(400, 'approvedBy: expected a string');
  try {
    await resumeHook(approvalToken(orderId), { approvedBy });
  } catch (error) {
    if (!HookNotFoundError.is(error)) throw error;
    // No live hook: either there is no such order, or it is not (or no longer) waiting.
    const { status } = await orderStatus(orderId);
    throw new HttpError(409, `order ${orderId} is not awaiting approval (status: ${status})`);
  }
  log(`order ${orderId}: approval received from ${approvedBy}`);
  sendJson(res, 202, { orderId, approvedBy });
}

function usage(origin) {
  return [
    `Order app on ${origin} (World: ${process.env.WORKFLOW_TARGET_WORLD || 'local'})`,
    '',
    `  curl -s -X POST ${origin}/orders -H 'content-type: application/json' -d '{"customer":"ada@example.com"}'`,
    `  curl -s ${origin}/orders/<orderId>                 # status, and the result once completed`,
    `  curl -sN ${origin}/orders/<orderId>/progress       # progress so far, then live (NDJSON; ?startIndex=N, ?stream=audit)`,
    `  curl -s -X POST ${origin}/orders/<orderId>/approve -d '{"approvedBy":"you"}'`,
    '',
  ].join('\n');
}

async function route(req, res) {
  const url = new URL(req.url, `http://${req.headers.host ?? 'localhost'}`);
  const { pathname } = url;

  const kind = pathname === `${V1}/flow` ? 'flow'
    : pathname === `${V1}/step` ? 'step'
    : pathname.startsWith(`${V1}/webhook/`) ? 'webhook'
    : undefined;
  if (kind) {
    const handler = handlers[kind][req.method];
    if (!handler) throw new HttpError(405, `${req.method} not allowed on ${pathname}`);
    return sendResponse(res, await handler(toRequest(req)));
  }

  if (pathname === '/' && req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    return res.end(usage(url.origin));
  }
  if (pathname === '/healthz' && req.method === 'GET') {
    return sendJson(res, ready && !stopping ? 200 : 503, { ready, stopping });
  }
  if (pathname === '/orders' && req.method === 'POST') {
    const order = parseOrder(await readJson(req));
    const run = await start(processOrder, [order]);
    log(`order ${run.runId}: started (${order.lines.length} line(s), cooling-off ${order.coolingOff})`);
    return sendJson(res, 202, { orderId: run.runId, runId: run.runId });
  }
  const match = /^\/orders\/([A-Za-z0-9_-]+)(\/progress|\/approve)?$/.exec(pathname);
  if (match) {
    const [, orderId, action] = match;
    if (!action && req.method === 'GET') return sendJson(res, 200, await orderStatus(orderId));
    if (action === '/progress' && req.method === 'GET') {
      const startIndex = Number(url.searchParams.get('startIndex') ?? 0);
      if (!Number.isInteger(startIndex)) throw new HttpError(400, 'startIndex: expected an integer');
      return streamProgress(res, orderId, startIndex, url.searchParams.get('stream') ?? undefined);
    }
    if (action === '/approve' && req.method === 'POST') return approve(req, res, orderId);
  }
  throw new HttpError(404, `no route for ${req.method} ${pathname}`);
}

const server = http.createServer((req, res) => {
  route(req, res).catch((error) => {
    if (!(error instanceof HttpError)) console.error(`[order-app] ${req.method} ${req.url} failed:`, error);
    if (res.headersSent) return res.destroy();
    sendJson(res, error instanceof HttpError ? error.status : 500, { error: error.message });
  });
});

async function shutdown(signal) {
  // A terminal's Ctrl-C reaches this process and the launcher, which forwards it: act once.
  if (stopping) return;
  stopping = true;
  log(`${signal}: closing the HTTP server`);
  const closed = new Promise((resolve) => server.close(resolve));
  for (const reader of tails) reader.cancel().catch(() => {});
  await closed;
  log('stopping the World');
  await (world.stop?.() ?? world.close?.());
  log('world stopped, exiting');
  process.exit(0);
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    shutdown(signal).catch((error) => {
      console.error('[order-app] shutdown failed:', error);
      process.exit(1);
    });
  });
}

server.on('error', (error) => {
  console.error(`[order-app] cannot serve on port ${port}: ${error.message} (set PORT to another port)`);
  process.exit(1);
});
server.listen(port, () => {
  const origin = `http://localhost:${server.address().port}`;
  // The runtime never starts the World: the app does, once its handlers can be reached.
  Promise.resolve(world.start?.()).then(
    () => {
      ready = true;
      log(`ready on ${origin}`);
      console.log(usage(origin));
    },
    (error) => {
      console.error('[order-app] the World failed to start:', error);
      process.exit(1);
    },
  );
});
