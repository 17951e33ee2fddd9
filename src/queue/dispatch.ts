import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { QueueKind } from '@workflow/world';
import { decode } from '../codec.js';
import type { WorldConfig } from '../config.js';
import type { ClaimedMessage } from './claim.js';
import { getHandler } from './handlers.js';
import { sign, WIRE_CONTENT_TYPE, WIRE_HEADERS } from './signing.js';

/**
 * Dispatch: hands one claimed message to its handler and returns the handler's result
 * (`undefined` or `{ timeoutSeconds }`); throws when the delivery failed. In-process when this process has
 * registered a handler for the message's kind (no HTTP, no in-memory queue in between);
 * otherwise a signed POST to the app's well-known route, for workers that run apart from the
 * app or before a lazily loaded route has registered its handler.
 */
export async function dispatch(message: ClaimedMessage, config: WorldConfig, signal: AbortSignal): Promise<unknown> {
  const handler = getHandler(message.kind);
  if (handler) {
    return handler(decode(message.payload), {
      attempt: message.attempt,
      queueName: message.queueName as Parameters<typeof handler>[1]['queueName'],
      messageId: message.id as Parameters<typeof handler>[1]['messageId'],
    });
  }
  if (!config.queueSecret) {
    // unreachable while claimMessages only claims deliverableKinds(); kept for the type narrowing
    throw new Error(`no ${message.kind} handler in this process and no queue secret for HTTP delivery`);
  }
  return deliverOverHttp(message, config.queueSecret, appUrl(config), signal);
}

/** Kinds this process can deliver now: registered handlers, and every kind when HTTP is configured. */
export function deliverableKinds(config: WorldConfig): QueueKind[] {
  const kinds: QueueKind[] = ['workflow', 'step'];
  return config.queueSecret ? kinds : kinds.filter((k) => getHandler(k) !== undefined);
}

function appUrl(config: WorldConfig): string {
  const base = config.appUrl ?? `http://localhost:${process.env.PORT?.trim() || '3000'}`;
  return base.replace(/\/+$/, '');
}

const ROUTE: Record<QueueKind, string> = {
  workflow: '/.well-known/workflow/v1/flow',
  step: '/.well-known/workflow/v1/step',
};

async function deliverOverHttp(
  message: ClaimedMessage,
  secret: string,
  base: string,
  signal: AbortSignal,
): Promise<unknown> {
  const fields = { timestamp: Date.now(), messageId: message.id, queueName: message.queueName, attempt: message.attempt };
  const { status, body } = await post(new URL(`${base}${ROUTE[message.kind]}`), message.payload, signal, {
    ...message.headers, // trace headers (traceparent, tracestate)
    'content-type': WIRE_CONTENT_TYPE,
    [WIRE_HEADERS.signature]: sign(secret, fields, message.payload),
    [WIRE_HEADERS.timestamp]: String(fields.timestamp),
    [WIRE_HEADERS.messageId]: fields.messageId,
    [WIRE_HEADERS.queueName]: fields.queueName,
    [WIRE_HEADERS.attempt]: String(fields.attempt),
  });
  if (status !== 200) {
    const hint = status === 401 ? ' (the app rejected the signature: is WORKFLOW_POSTGRES_QUEUE_SECRET the same there?)' : '';
    throw new Error(`HTTP delivery answered ${status}${hint}: ${body.slice(0, 500)}`);
  }
  try {
    return body ? (JSON.parse(body) as unknown) : undefined;
  } catch {
    throw new Error('HTTP delivery answered 200 with a body that is not JSON');
  }
}

/**
 * One POST with node:http rather than fetch: fetch (undici) gives up on a response whose headers
 * take longer than 5 minutes, while a step executes inside its delivery for as long as it needs,
 * and a retry started meanwhile would run the step twice at once. The lease heartbeat, not a
 * timeout, decides how long a delivery may last; `signal` ends it at shutdown.
 */
function post(
  url: URL,
  payload: Uint8Array,
  signal: AbortSignal,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { ...headers, 'content-length': String(payload.length) }, signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}
