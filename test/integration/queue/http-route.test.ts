import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, test } from 'vitest';
import { encode } from '../../../src/codec.js';
import { sign, WIRE_HEADERS } from '../../../src/queue/signing.js';
import { databaseUrl } from '../../helpers/db.js';
import { messageRows, queueWorld, spawnWorld, STEP, waitFor, WORKFLOW } from './helpers.js';

const SECRET = 'test-secret-0123456789abcdef';

function signedRequest(opts: {
  secret?: string;
  queueName?: string;
  messageId?: string;
  attempt?: number;
  timestamp?: number;
  body?: Uint8Array;
  drop?: string;
}): Request {
  const fields = {
    timestamp: opts.timestamp ?? Date.now(),
    messageId: opts.messageId ?? 'msg_01HTTP',
    queueName: opts.queueName ?? `${WORKFLOW}wf`,
    attempt: opts.attempt ?? 1,
  };
  const body = opts.body ?? encode({ runId: 'wrun_http', bytes: new Uint8Array([0, 9]) });
  const headers: Record<string, string> = {
    [WIRE_HEADERS.signature]: sign(opts.secret ?? SECRET, fields, body),
    [WIRE_HEADERS.timestamp]: String(fields.timestamp),
    [WIRE_HEADERS.messageId]: fields.messageId,
    [WIRE_HEADERS.queueName]: fields.queueName,
    [WIRE_HEADERS.attempt]: String(fields.attempt),
  };
  if (opts.drop) delete headers[opts.drop];
  return new Request('http://app.test/.well-known/workflow/v1/flow', { method: 'POST', headers, body: body as Uint8Array<ArrayBuffer> });
}

describe('signed HTTP deliveries', () => {
  test('unsigned, wrongly signed, stale and malformed requests get 401/400 and reach nothing', async () => {
    const world = queueWorld({ queueSecret: SECRET });
    const calls: unknown[] = [];
    const route = world.createQueueHandler(WORKFLOW, async (message) => {
      calls.push(message);
    });
    const pending = (await world.queue(`${WORKFLOW}wf`, { runId: 'wrun_http' })).messageId;
    const before = await messageRows(world.schema);

    const status = async (req: Request) => (await route(req)).status;
    expect(await status(new Request('http://app.test/', { method: 'GET' }))).toBe(405);
    expect(await status(signedRequest({ drop: WIRE_HEADERS.signature }))).toBe(401);
    expect(await status(new Request('http://app.test/', { method: 'POST', body: JSON.stringify({ runId: 'x' }) }))).toBe(401);
    expect(await status(signedRequest({ secret: 'another-secret-0123456789' }))).toBe(401);
    expect(await status(signedRequest({ timestamp: Date.now() - 3_600_000 }))).toBe(401);
    // a valid signature over different headers than those sent
    const tampered = signedRequest({});
    tampered.headers.set(WIRE_HEADERS.attempt, '7');
    expect(await status(tampered)).toBe(401);
    expect(await status(signedRequest({ drop: WIRE_HEADERS.messageId }))).toBe(400);
    expect(await status(signedRequest({ attempt: 0 }))).toBe(400);
    expect(await status(signedRequest({ body: new Uint8Array([0xff, 0xff, 0x00]) }))).toBe(400);
    expect(await status(signedRequest({ body: new Uint8Array() }))).toBe(400);
    expect(await status(signedRequest({ queueName: `${STEP}s` }))).toBe(400);
    expect(await status(signedRequest({ queueName: 'not-a-queue' }))).toBe(400);
    // a World without a secret accepts no HTTP delivery at all
    const closed = queueWorld().createQueueHandler(WORKFLOW, async (message) => {
      calls.push(message);
    });
    expect((await closed(signedRequest({}))).status).toBe(401);

    expect(calls).toEqual([]);
    expect(await messageRows(world.schema)).toEqual(before);
    expect(before[0]).toMatchObject({ id: pending, state: 'pending', attempt: 0 });
  });

  test('a signed request reaches the handler: 200 ok, 200 timeoutSeconds, 500 on a throw', async () => {
    const world = queueWorld({ queueSecret: SECRET });
    const seen: { message: unknown; meta: unknown }[] = [];
    const results: unknown[] = [undefined, { timeoutSeconds: 5 }];
    const route = world.createQueueHandler(WORKFLOW, async (message, meta) => {
      seen.push({ message, meta });
      if (seen.length === 3) throw new Error('handler broke');
      return results[seen.length - 1] as undefined;
    });
    const ok = await route(signedRequest({ attempt: 3 }));
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ ok: true });
    expect(seen[0]).toEqual({
      message: { runId: 'wrun_http', bytes: new Uint8Array([0, 9]) },
      meta: { attempt: 3, queueName: `${WORKFLOW}wf`, messageId: 'msg_01HTTP' },
    });
    const later = await route(signedRequest({}));
    expect(await later.json()).toEqual({ timeoutSeconds: 5 });
    const failed = await route(signedRequest({}));
    expect(failed.status).toBe(500);
    expect(await failed.text()).toContain('handler broke');
  });

  describe('a worker process without handlers delivers over HTTP to the app', () => {
    let server: Server | undefined;
    afterAll(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

    test('payload, attempts, trace headers, reschedule and retry all cross the wire', async () => {
      const world = queueWorld({ queueSecret: SECRET });
      const seen: { message: unknown; attempt: number; traceparent: string | null }[] = [];
      let lastTraceparent: string | null = null;
      const route = world.createQueueHandler(STEP, async (message, meta) => {
        seen.push({ message, attempt: meta.attempt, traceparent: lastTraceparent });
        if (seen.length === 1) return { timeoutSeconds: 0 };
        if (seen.length === 2) throw new Error('transient');
        return undefined;
      });
      server = createServer((req: IncomingMessage, res) => {
        lastTraceparent = (req.headers.traceparent as string | undefined) ?? null;
        const request = new Request(`http://127.0.0.1${req.url}`, {
          method: req.method,
          headers: req.headers as Record<string, string>,
          body: Readable.toWeb(req) as ReadableStream,
          duplex: 'half',
        } as RequestInit);
        void route(request).then(async (response) => {
          res.writeHead(response.status, { 'content-type': 'application/json' });
          res.end(await response.text());
        });
      });
      await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
      const appUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

      const payload = { workflowName: 'wf', workflowRunId: 'wrun_w', workflowStartedAt: 1, stepId: 'step_w', data: new Uint8Array([1, 0, 2]) };
      const messageId = (await world.queue(`${STEP}s`, payload, { headers: { traceparent: '00-abc-def-01' } })).messageId;
      const child = spawnWorld({
        mode: 'consume',
        handler: 'none',
        options: {
          connectionString: databaseUrl,
          schema: world.schema,
          queueSecret: SECRET,
          appUrl,
          queueRetryBaseMs: 20,
          queuePollMs: 200,
          queueReconcileIntervalMs: 0,
        },
      });
      await waitFor(async () => seen.length === 3 && (await messageRows(world.schema)).length === 0, 'three HTTP deliveries');
      await child.stop();
      expect(seen.map((s) => s.attempt)).toEqual([1, 1, 2]); // reschedule restarts at 1; the failure counts
      expect(seen.every((s) => s.traceparent === '00-abc-def-01')).toBe(true);
      expect(seen[2]!.message).toEqual(payload);
      expect(messageId).toMatch(/^msg_/);
    });
  });
});
