import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createRun } from '../helpers/runs.js';
import { messageRows, queueWorld, waitFor, WORKFLOW } from './queue/helpers.js';

/**
 * Traces and metrics (src/telemetry.ts, src/instrument.ts) with the OpenTelemetry SDK registered
 * in this process: an in-memory span exporter and a metric reader collected on demand.
 */
class TestReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}
const exporter = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const reader = new TestReader();
const meterProvider = new MeterProvider({ readers: [reader] });

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
});
afterAll(async () => {
  await tracerProvider.shutdown();
  await meterProvider.shutdown();
  trace.disable();
  metrics.disable();
  propagation.disable();
  context.disable();
});

const spans = () => exporter.getFinishedSpans();
const named = (prefix: string) => spans().filter((s) => s.name.startsWith(prefix));
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

function metric(result: ResourceMetrics, name: string) {
  return result.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === name);
}

describe('telemetry', () => {
  test('queue(): a producer span that travels with the message; one process span per delivery, errors recorded, storage spans inside', async () => {
    const world = queueWorld();
    let attempts = 0;
    let storageRunId = '';
    world.createQueueHandler(WORKFLOW, async (_message, meta) => {
      attempts++;
      if (meta.attempt === 1) throw new Error('the first attempt fails');
      storageRunId = await createRun(world); // storage calls made by the handler
    });
    await world.start();
    const tracer = trace.getTracer('test');
    await tracer.startActiveSpan('test-root', async (root) => {
      await world.queue(`${WORKFLOW}wf`, { runId: 'wrun_traced' });
      root.end();
    });
    await waitFor(async () => attempts === 2 && (await messageRows(world.schema)).length === 0, 'both deliveries');
    await waitFor(() => named('world.runs.').length + named('world.events.create').length > 0, 'the storage spans');

    const root = named('test-root')[0]!;
    const [send] = named('send __wkf_workflow_wf');
    expect(send).toBeDefined();
    expect(parentOf(send!)).toBe(root.spanContext().spanId);
    expect(send!.attributes).toMatchObject({ 'messaging.system': 'workflow-world-postgres', 'messaging.destination.name': `${WORKFLOW}wf` });
    const messageId = send!.attributes['messaging.message.id'];
    expect(typeof messageId).toBe('string');

    const processes = named('process __wkf_workflow_wf');
    expect(processes.map((s) => s.attributes['workflow_world.delivery.attempt']).sort()).toEqual([1, 2]);
    for (const p of processes) {
      expect(parentOf(p)).toBe(send!.spanContext().spanId); // through the traceparent stored with the message
      expect(p.spanContext().traceId).toBe(root.spanContext().traceId);
      expect(p.attributes['messaging.message.id']).toBe(messageId);
    }
    const failed = processes.find((s) => s.attributes['workflow_world.delivery.attempt'] === 1)!;
    expect(failed.status.code).toBe(2);
    expect(failed.events.map((e) => e.name)).toContain('exception');
    expect(failed.attributes).toMatchObject({ 'workflow_world.outcome': 'retry', 'error.type': 'Error' });
    const succeeded = processes.find((s) => s.attributes['workflow_world.delivery.attempt'] === 2)!;
    expect(succeeded.attributes['workflow_world.outcome']).toBe('done');

    const created = named('world.events.create run_created').find((s) => s.attributes['workflow.run.id'] === storageRunId)!;
    expect(created).toBeDefined();
    expect(parentOf(created)).toBe(succeeded.spanContext().spanId);
    expect(created.attributes).toMatchObject({
      'db.system.name': 'postgresql',
      'db.namespace': world.schema,
      'db.operation.name': 'events.create',
    });

    // nothing for idle polls or the LISTEN connection
    const before = spans().length;
    await new Promise((resolve) => setTimeout(resolve, 600)); // three polls of the test World
    expect(spans().length).toBe(before);
  });

  test('metrics: messages, deliveries, durations, queue wait and storage calls; gauges from one collector', async () => {
    const world = queueWorld();
    let attempts = 0;
    world.createQueueHandler(WORKFLOW, async () => {
      attempts++;
      if (attempts === 1) throw new Error('once');
    });
    await world.start();
    await world.queue(`${WORKFLOW}wf`, { runId: 'wrun_metrics' });
    await waitFor(async () => attempts === 2 && (await messageRows(world.schema)).length === 0, 'both deliveries');
    await world.runs.list();
    const { resourceMetrics } = await reader.collect();
    const sum = (name: string) =>
      (metric(resourceMetrics, name)?.dataPoints ?? []).reduce((total, p) => total + Number(p.value), 0);
    expect(sum('workflow_world.queue.messages.sent')).toBeGreaterThanOrEqual(1);
    expect(sum('workflow_world.queue.messages.retried')).toBeGreaterThanOrEqual(1);
    expect(sum('workflow_world.queue.messages.delivered')).toBeGreaterThanOrEqual(1);
    const histogramCount = (name: string) =>
      (metric(resourceMetrics, name)?.dataPoints ?? []).reduce((total, p) => total + (p.value as { count: number }).count, 0);
    expect(histogramCount('workflow_world.queue.delivery.duration')).toBeGreaterThanOrEqual(2);
    expect(histogramCount('workflow_world.queue.wait')).toBeGreaterThanOrEqual(2);
    const storage = metric(resourceMetrics, 'workflow_world.storage.duration');
    expect(storage?.descriptor.unit).toBe('s');
    expect(storage?.dataPoints.map((p) => p.attributes['db.operation.name'])).toContain('runs.list');
    const depth = metric(resourceMetrics, 'workflow_world.queue.depth')!;
    expect(depth.dataPoints.filter((p) => p.attributes['db.namespace'] === world.schema).map((p) => p.attributes.state).sort()).toEqual(
      ['dead', 'delayed', 'leased', 'ready'],
    );
    expect(metric(resourceMetrics, 'workflow_world.runs.active')).toBeDefined();
    expect(metric(resourceMetrics, 'workflow_world.pool.connections')).toBeDefined();
  });
});
