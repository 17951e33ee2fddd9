import { createRequire } from 'node:module';
import type * as OtelApi from '@opentelemetry/api';
import { describeError, log } from './log.js';

/**
 * OpenTelemetry traces and metrics through `@opentelemetry/api`, an optional peer dependency
 * loaded on first use. Without it, or without a registered SDK, nothing is created: every entry
 * point below costs a branch (whether an SDK is registered is looked up at most once a second).
 * postgres.js has no instrumentation of its own, so the client spans made here are the only
 * database spans an app gets. Names, attributes and metrics are listed in README.md
 * (Observability).
 */
type Api = typeof OtelApi;

let api: Api | null | undefined;
function loadApi(): Api | null {
  if (api !== undefined) return api;
  try {
    api = createRequire(import.meta.url)('@opentelemetry/api') as Api;
  } catch (error) {
    api = null;
    log.debug('@opentelemetry/api could not be loaded: no spans or metrics', { error: describeError(error) });
  }
  return api;
}

const SCOPE = 'workflow-world-postgres';
const RECHECK_MS = 1_000;

/** Whether a real provider (an SDK) is registered for `kind`, re-checked at most once a second. */
function registered(kind: 'trace' | 'metrics'): (otel: Api) => boolean {
  let checkedAt = 0;
  let active = false;
  return (otel) => {
    const now = Date.now();
    if (now - checkedAt < RECHECK_MS) return active;
    checkedAt = now;
    // the global providers are proxies whose delegate is a no-op until an SDK registers one
    const provider = (kind === 'trace' ? otel.trace.getTracerProvider() : otel.metrics.getMeterProvider()) as {
      getDelegate?: () => object;
      constructor: { name: string };
    };
    const real = provider.getDelegate ? provider.getDelegate() : provider;
    active = !/^Noop/.test(real.constructor.name);
    return active;
  };
}
const tracingRegistered = registered('trace');
const metricsRegistered = registered('metrics');

function tracerOf(): { otel: Api; tracer: OtelApi.Tracer } | undefined {
  const otel = loadApi();
  if (!otel || !tracingRegistered(otel)) return undefined;
  return { otel, tracer: otel.trace.getTracer(SCOPE) };
}

// ---- metrics -------------------------------------------------------------------------------

interface Instruments {
  meter: OtelApi.Meter;
  sent: OtelApi.Counter;
  delivered: OtelApi.Counter;
  retried: OtelApi.Counter;
  deadLettered: OtelApi.Counter;
  deliveryDuration: OtelApi.Histogram;
  queueWait: OtelApi.Histogram;
  storageDuration: OtelApi.Histogram;
  errors: OtelApi.Counter;
}

let instruments: Instruments | undefined;
function metricsOf(): Instruments | undefined {
  const otel = loadApi();
  if (!otel || !metricsRegistered(otel)) return undefined;
  if (instruments) return instruments;
  const meter = otel.metrics.getMeter(SCOPE);
  instruments = {
    meter,
    sent: meter.createCounter('workflow_world.queue.messages.sent', { description: 'Messages enqueued', unit: '{message}' }),
    delivered: meter.createCounter('workflow_world.queue.messages.delivered', { description: 'Deliveries that finished', unit: '{message}' }),
    retried: meter.createCounter('workflow_world.queue.messages.retried', { description: 'Failed deliveries scheduled again', unit: '{message}' }),
    deadLettered: meter.createCounter('workflow_world.queue.messages.dead_lettered', { description: 'Messages moved to the dead letters', unit: '{message}' }),
    deliveryDuration: meter.createHistogram('workflow_world.queue.delivery.duration', { description: 'Time from claim to the recorded outcome', unit: 's' }),
    queueWait: meter.createHistogram('workflow_world.queue.wait', { description: 'Time from a message falling due to its claim', unit: 's' }),
    storageDuration: meter.createHistogram('workflow_world.storage.duration', { description: 'Duration of World storage and stream calls', unit: 's' }),
    errors: meter.createCounter('workflow_world.errors', { description: 'Calls that failed, by error type', unit: '{error}' }),
  };
  return instruments;
}

export interface Gauges {
  queue: { ready: number; delayed: number; leased: number; dead: number; oldestReadyAgeMs: number | null };
  activeRuns: number;
  connections: { active: number; idle: number };
}

/**
 * Observable gauges fed by one collector (`collect`, cached by the caller), registered while a
 * World is started. Returns the function that unregisters them.
 */
export function registerGauges(collect: () => Promise<Gauges>, attributes: OtelApi.Attributes): () => void {
  const m = metricsOf();
  if (!m) return () => {};
  const depth = m.meter.createObservableGauge('workflow_world.queue.depth', { description: 'Messages by state', unit: '{message}' });
  const oldest = m.meter.createObservableGauge('workflow_world.queue.oldest_ready_age', { description: 'Age of the oldest due message', unit: 's' });
  const dead = m.meter.createObservableGauge('workflow_world.queue.dead_letters', { description: 'Dead-lettered messages', unit: '{message}' });
  const active = m.meter.createObservableGauge('workflow_world.runs.active', { description: 'Pending and running runs', unit: '{run}' });
  const pool = m.meter.createObservableGauge('workflow_world.pool.connections', { description: 'Server connections of this application name', unit: '{connection}' });
  const callback: OtelApi.BatchObservableCallback = async (result) => {
    try {
      const g = await collect();
      for (const state of ['ready', 'delayed', 'leased', 'dead'] as const) result.observe(depth, g.queue[state], { ...attributes, state });
      if (g.queue.oldestReadyAgeMs !== null) result.observe(oldest, g.queue.oldestReadyAgeMs / 1000, attributes);
      result.observe(dead, g.queue.dead, attributes);
      result.observe(active, g.activeRuns, attributes);
      result.observe(pool, g.connections.active, { ...attributes, state: 'used' });
      result.observe(pool, g.connections.idle, { ...attributes, state: 'idle' });
    } catch (error) {
      log.debug('metrics collection failed', { error: describeError(error) });
    }
  };
  const observables = [depth, oldest, dead, active, pool];
  m.meter.addBatchObservableCallback(callback, observables);
  return () => m.meter.removeBatchObservableCallback(callback, observables);
}

// ---- spans ---------------------------------------------------------------------------------

const errorType = (error: unknown) => (error instanceof Error ? error.name : typeof error);

/**
 * Runs one storage or stream call (`operation`: 'runs.get', 'events.create', 'streams.write'…)
 * in a client span named `world.<operation>[ <detail>]`, and records its duration and errors.
 */
export function traceCall<T>(
  operation: string,
  detail: string | undefined,
  attributes: () => OtelApi.Attributes,
  fn: () => Promise<T>,
): Promise<T> {
  const t = tracerOf();
  const m = metricsOf();
  // not async: without an SDK the call is passed through, with no promise or frame of its own
  if (!t && !m) return fn();
  return traced(operation, detail, attributes, fn, t, m);
}

async function traced<T>(
  operation: string,
  detail: string | undefined,
  attributes: () => OtelApi.Attributes,
  fn: () => Promise<T>,
  t: ReturnType<typeof tracerOf>,
  m: Instruments | undefined,
): Promise<T> {
  const started = performance.now();
  const attrs = { ...attributes(), 'db.operation.name': operation };
  const run = async (span?: OtelApi.Span) => {
    try {
      return await fn();
    } catch (error) {
      span?.recordException(error as Error);
      span?.setStatus({ code: 2, message: (error as Error)?.message });
      span?.setAttribute('error.type', errorType(error));
      m?.errors.add(1, { 'db.operation.name': operation, 'error.type': errorType(error) });
      throw error;
    } finally {
      span?.end();
      m?.storageDuration.record((performance.now() - started) / 1000, { 'db.operation.name': operation });
    }
  };
  if (!t) return run();
  const name = `world.${operation}${detail ? ` ${detail}` : ''}`;
  return t.tracer.startActiveSpan(name, { kind: t.otel.SpanKind.CLIENT, attributes: attrs }, (span) => run(span));
}

/**
 * The producer side of `queue()`: a span `send <queue>` in which `fn` enqueues, with W3C
 * `traceparent` / `tracestate` injected into `headers` unless the caller's headers carry them
 * already (they are stored with the message, so they survive retries, dead letters and redrives).
 */
export function traceSend(
  queueName: string,
  kind: string,
  headers: Record<string, string> | undefined,
  attributes: () => OtelApi.Attributes,
  fn: (headers: Record<string, string> | undefined) => Promise<string>,
): Promise<string> {
  metricsOf()?.sent.add(1, { 'workflow_world.queue.kind': kind });
  const t = tracerOf();
  if (!t) return fn(headers);
  return t.tracer.startActiveSpan(
    `send ${queueName}`,
    {
      kind: t.otel.SpanKind.PRODUCER,
      attributes: { ...attributes(), 'messaging.operation.type': 'send', 'messaging.destination.name': queueName },
    },
    async (span) => {
      try {
        let carried = headers;
        if (!headers?.traceparent) {
          carried = { ...headers };
          t.otel.propagation.inject(t.otel.context.active(), carried);
          if (Object.keys(carried).length === 0) carried = headers;
        }
        const messageId = await fn(carried);
        span.setAttribute('messaging.message.id', messageId);
        return messageId;
      } catch (error) {
        span.recordException(error as Error);
        span.setStatus({ code: 2, message: (error as Error)?.message });
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

export interface DeliveryTrace {
  /** Ends the span with the delivery's outcome ('done', 'retry', 'dead', …) and records metrics. */
  end(outcome: string, error?: unknown): void;
  /** Runs `fn` (the handler) inside the span. */
  run<T>(fn: () => Promise<T>): Promise<T>;
}

/**
 * The consumer side: a span `process <queue>` around one delivery, the child of the context
 * carried in the message's headers, inside which the handler runs (so the runtime's own spans
 * nest under it). Returns undefined when neither traces nor metrics are on.
 */
export function traceDelivery(message: {
  id: string;
  queueName: string;
  kind: string;
  attempt: number;
  fence: string;
  headers: Record<string, string> | null;
  dueAt?: Date | null;
}, attributes: OtelApi.Attributes): DeliveryTrace | undefined {
  const t = tracerOf();
  const m = metricsOf();
  if (!t && !m) return undefined;
  const started = performance.now();
  const kindAttr = { 'workflow_world.queue.kind': message.kind };
  if (m && message.dueAt) m.queueWait.record(Math.max(0, (Date.now() - message.dueAt.getTime()) / 1000), kindAttr);
  let span: OtelApi.Span | undefined;
  let ctx: OtelApi.Context | undefined;
  if (t) {
    const parent = message.headers ? t.otel.propagation.extract(t.otel.ROOT_CONTEXT, message.headers) : t.otel.ROOT_CONTEXT;
    span = t.tracer.startSpan(
      `process ${message.queueName}`,
      {
        kind: t.otel.SpanKind.CONSUMER,
        attributes: {
          ...attributes,
          'messaging.operation.type': 'process',
          'messaging.destination.name': message.queueName,
          'messaging.message.id': message.id,
          'workflow_world.delivery.attempt': message.attempt,
          // the claim's fencing token: one per delivery, also when a reschedule restarts attempts
          'workflow_world.delivery.fence': message.fence,
        },
      },
      parent,
    );
    ctx = t.otel.trace.setSpan(parent, span);
  }
  return {
    run: (fn) => (t && ctx ? t.otel.context.with(ctx, fn) : fn()),
    end(outcome, error) {
      if (m) {
        m.deliveryDuration.record((performance.now() - started) / 1000, { ...kindAttr, 'workflow_world.outcome': outcome });
        if (outcome === 'done' || outcome === 'reschedule') m.delivered.add(1, kindAttr);
        if (outcome === 'retry') m.retried.add(1, kindAttr);
        if (outcome === 'dead') m.deadLettered.add(1, kindAttr);
      }
      if (!span) return;
      span.setAttribute('workflow_world.outcome', outcome);
      if (error !== undefined) {
        span.recordException(error as Error);
        span.setStatus({ code: 2, message: (error as Error)?.message });
        span.setAttribute('error.type', errorType(error));
      }
      span.end();
    },
  };
}
