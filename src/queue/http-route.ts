import { getQueuePrefixKind, parseQueueName, type QueueKind } from '@workflow/world';
import { decode } from '../codec.js';
import { describeError } from '../log.js';
import { timeoutSecondsOf } from './backoff.js';
import type { QueueHandler } from './handlers.js';
import { MAX_CLOCK_SKEW_MS, verify, WIRE_HEADERS } from './signing.js';

/**
 * The `(req) => Response` that `createQueueHandler` returns, mounted by the framework at the
 * well-known flow/step routes. It accepts only deliveries signed by this package's deliverer
 * (see signing.ts): 401 when unsigned, badly signed, stale, or when no secret is configured (this
 * World never sends over HTTP then, so any request is foreign); 400 when malformed or for
 * another kind; then 200 `{ ok: true }`, 200 `{ timeoutSeconds }` or 500 as the handler settles.
 * Nothing happens before the signature is verified.
 */
export function createRequestHandler(
  prefix: string,
  handler: QueueHandler,
  getSecret: () => string | undefined,
): (req: Request) => Promise<Response> {
  // Route by kind, not prefix: in 4.8.9 a namespaced app still enqueues steps as `__wkf_step_…`.
  let kind: QueueKind | undefined;
  try {
    kind = getQueuePrefixKind(prefix as Parameters<typeof getQueuePrefixKind>[0]);
  } catch {
    kind = undefined; // reported on every request: creating a handler must not throw at build time
  }

  return async (req: Request): Promise<Response> => {
    if (!kind) return json(500, { error: `invalid queue prefix "${prefix}"` });
    if (req.method !== 'POST') return json(405, { error: 'method not allowed' });
    let secret: string | undefined;
    try {
      secret = getSecret();
    } catch (error) {
      return json(500, { error: describeError(error) });
    }
    const signature = req.headers.get(WIRE_HEADERS.signature);
    if (!secret || !signature) return json(401, { error: 'unsigned delivery' });

    const messageId = req.headers.get(WIRE_HEADERS.messageId);
    const queueName = req.headers.get(WIRE_HEADERS.queueName);
    const attempt = Number(req.headers.get(WIRE_HEADERS.attempt));
    const timestamp = Number(req.headers.get(WIRE_HEADERS.timestamp));
    if (!messageId || !queueName || !Number.isSafeInteger(attempt) || attempt < 1 || !Number.isSafeInteger(timestamp)) {
      return json(400, { error: 'missing or invalid delivery headers' });
    }
    let body: Uint8Array;
    try {
      body = new Uint8Array(await req.arrayBuffer());
    } catch {
      return json(400, { error: 'unreadable body' });
    }
    if (Math.abs(Date.now() - timestamp) > MAX_CLOCK_SKEW_MS) return json(401, { error: 'stale delivery' });
    if (!verify(secret, { timestamp, messageId, queueName, attempt }, body, signature)) {
      return json(401, { error: 'bad signature' });
    }

    let message: unknown;
    try {
      if (parseQueueName(queueName as Parameters<typeof parseQueueName>[0]).kind !== kind) {
        return json(400, { error: `queue "${queueName}" is not a ${kind} queue` });
      }
      if (body.length === 0) return json(400, { error: 'empty body' });
      message = decode(body);
    } catch {
      return json(400, { error: 'malformed delivery' });
    }

    try {
      const result = await handler(message, {
        attempt,
        queueName: queueName as Parameters<QueueHandler>[1]['queueName'],
        messageId: messageId as Parameters<QueueHandler>[1]['messageId'],
      });
      const timeoutSeconds = timeoutSecondsOf(result);
      return json(200, timeoutSeconds === undefined ? { ok: true } : { timeoutSeconds });
    } catch (error) {
      // the deliverer logs it, with the message id, and schedules the retry
      return json(500, { error: describeError(error) });
    }
  };
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}
