import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { driveOrder, e2eWorld, startApp } from '../helpers/app.js';
import { databaseUrl, freshSchema } from '../helpers/db.js';

interface SpanLine {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  links: string[];
  attributes: Record<string, unknown>;
  status: number;
}

const dir = mkdtempSync(join(tmpdir(), 'wwp-otel-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(e2eWorld === 'local')('telemetry through the real runtime', () => {
  test('an order run by the example app, with the OpenTelemetry SDK registered: the span tree of its deliveries', async ({ onTestFailed }) => {
    const spansFile = join(dir, 'spans.jsonl');
    const preload = pathToFileURL(join(import.meta.dirname, 'fixtures', 'otel-preload.mjs')).href;
    const app = await startApp({
      databaseUrl,
      schema: freshSchema('otel'),
      env: { NODE_OPTIONS: `--import ${preload}`, OTEL_TEST_SPANS_FILE: spansFile },
    });
    onTestFailed(() => console.error(app.logs()));
    const { orderId, final } = await driveOrder(app.baseUrl);
    expect(final).toMatchObject({ status: 'completed' });
    expect(await app.stop()).toBe(0);

    expect(existsSync(spansFile)).toBe(true);
    const spans = readFileSync(spansFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as SpanLine);
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const ancestors = (s: SpanLine): SpanLine[] => {
      const chain: SpanLine[] = [];
      for (let p = s.parentSpanId && byId.get(s.parentSpanId); p; p = p.parentSpanId ? byId.get(p.parentSpanId) : undefined) chain.push(p);
      return chain;
    };
    const processes = spans.filter((s) => s.name.startsWith('process __wkf_'));
    const sends = spans.filter((s) => s.name.startsWith('send __wkf_'));
    // one process span per delivery: each (message id, fence) once
    const deliveries = processes.map((s) => `${s.attributes['messaging.message.id']}#${s.attributes['workflow_world.delivery.fence']}`);
    expect(new Set(deliveries).size).toBe(deliveries.length);
    expect(processes.some((s) => s.name.startsWith('process __wkf_workflow_'))).toBe(true);
    expect(processes.some((s) => s.name.startsWith('process __wkf_step_'))).toBe(true);
    // every message sent was processed in the trace it was sent from: the process span is the
    // send span's child, or, when the runtime put its own traceparent into the message's headers
    // (queue() then keeps the caller's), the child of the span the runtime sent it from
    for (const send of sends) {
      const id = send.attributes['messaging.message.id'];
      const processed = processes.filter((p) => p.attributes['messaging.message.id'] === id);
      expect(processed.length, `message ${String(id)}`).toBeGreaterThan(0);
      for (const p of processed) {
        expect(p.traceId).toBe(send.traceId);
        expect([send.spanId, send.parentSpanId, ...ancestors(send).map((a) => a.spanId)]).toContain(p.parentSpanId);
      }
    }
    // The runtime runs each delivery in a WORKFLOW or STEP span of its own, parented by the trace
    // carried in the message's payload and linked to the process span it runs in; the run's
    // storage calls made by its deliveries nest under those (start(), from the app's HTTP route,
    // creates and starts the run outside any delivery).
    const processIds = new Set(processes.map((p) => p.spanId));
    const runtimeSpans = spans.filter((s) => /^(WORKFLOW|STEP) /.test(s.name));
    expect(runtimeSpans.length).toBeGreaterThan(0);
    for (const r of runtimeSpans) expect(r.links.some((l) => processIds.has(l)), r.name).toBe(true);
    const runEvents = spans.filter((s) => s.name.startsWith('world.events.create') && s.attributes['workflow.run.id'] === orderId);
    const inDeliveries = ['world.events.create step_started', 'world.events.create step_completed', 'world.events.create run_completed'];
    expect(runEvents.map((s) => s.name)).toEqual(expect.arrayContaining(inDeliveries));
    for (const s of runEvents.filter((e) => inDeliveries.includes(e.name))) {
      const delivery = ancestors(s).find((a) => /^(WORKFLOW|STEP) /.test(a.name) && a.links.some((l) => processIds.has(l)));
      expect(delivery, s.name).toBeDefined();
      expect(s.attributes).toMatchObject({ 'db.system.name': 'postgresql', 'db.operation.name': 'events.create' });
    }
  }, 180_000);
});
