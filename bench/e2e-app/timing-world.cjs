// WORKFLOW_TARGET_WORLD for the e2e benchmark: loads the World named by BENCH_INNER_WORLD
// (this package's dist/index.cjs or @workflow/world-postgres) and wraps three of its functions
// to time, in this process, (1) queue() → handler start of the first delivery of each message
// and (2) start() → run_completed, without changing what the World does.
const { performance } = require('node:perf_hooks');

const inner = require(process.env.BENCH_INNER_WORLD);
const factory = typeof inner === 'function' ? inner : typeof inner.default === 'function' ? inner.default : inner.createWorld;

const store = (globalThis[Symbol.for('wwp-bench/timing')] ??= {
  enqueuedAt: new Map(), // messageId → queue() call time
  startedAt: new Map(), // messageId → first handler start (when it precedes queue()'s return)
  wakeups: [],
  finished: new Map(), // runId → { at, type }
  waiters: new Map(), // runId → resolve
});

function recordWake(id, enqueued, started) {
  store.wakeups.push(started - enqueued);
  store.enqueuedAt.set(id, -1); // counted once
}

function createWorld(...args) {
  const world = factory(...args);
  const queue = world.queue;
  world.queue = async (name, payload, opts) => {
    const t = performance.now();
    const result = await queue(name, payload, opts);
    const id = result?.messageId;
    if (id && !store.enqueuedAt.has(id)) {
      const started = store.startedAt.get(id);
      if (started !== undefined) recordWake(id, t, started);
      else store.enqueuedAt.set(id, t);
    }
    return result;
  };
  const createQueueHandler = world.createQueueHandler;
  world.createQueueHandler = (prefix, handler) =>
    createQueueHandler(prefix, (message, meta) => {
      const t = performance.now();
      const id = meta?.messageId;
      if (id && meta.attempt === 1) {
        const enq = store.enqueuedAt.get(id);
        if (enq === undefined) {
          if (!store.startedAt.has(id)) store.startedAt.set(id, t);
        } else if (enq >= 0) recordWake(id, enq, t);
      }
      return handler(message, meta);
    });
  const create = world.events.create;
  world.events = {
    ...world.events,
    create: async (runId, data, params) => {
      const result = await create(runId, data, params);
      const type = data?.eventType;
      if (type === 'run_completed' || type === 'run_failed' || type === 'run_cancelled') {
        const at = performance.now();
        store.finished.set(runId, { at, type });
        store.waiters.get(runId)?.({ at, type });
      }
      return result;
    },
  };
  return world;
}

module.exports = createWorld;
module.exports.default = createWorld;
module.exports.createWorld = createWorld;
module.exports.timing = store;
