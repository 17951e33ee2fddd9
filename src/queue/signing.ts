import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The private wire protocol between this package's HTTP deliverer and the route handler that
 * `createQueueHandler` returns. The route is public (docs/world-contract.md §2.7), so every
 * delivery carries an HMAC-SHA256 over its timestamp, message id, queue name, attempt and body,
 * keyed with the shared `WORKFLOW_POSTGRES_QUEUE_SECRET`. The timestamp bounds how long a captured
 * request can be replayed. The body is the stored CBOR payload, unchanged, so bytes survive
 * exactly.
 */
export const WIRE_HEADERS = {
  signature: 'x-wwp-signature',
  timestamp: 'x-wwp-timestamp',
  messageId: 'x-wwp-message-id',
  queueName: 'x-wwp-queue-name',
  attempt: 'x-wwp-attempt',
} as const;

export const WIRE_CONTENT_TYPE = 'application/cbor';

/** How far a delivery's timestamp may be from the receiver's clock. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

export interface SignedFields {
  timestamp: number;
  messageId: string;
  queueName: string;
  attempt: number;
}

const VERSION = 'v1';

export function sign(secret: string, fields: SignedFields, body: Uint8Array): string {
  const mac = createHmac('sha256', secret);
  mac.update(`${VERSION}\n${fields.timestamp}\n${fields.messageId}\n${fields.queueName}\n${fields.attempt}\n`);
  mac.update(body);
  return `${VERSION}=${mac.digest('hex')}`;
}

/** Constant-time comparison of a received signature with the expected one. */
export function verify(secret: string, fields: SignedFields, body: Uint8Array, signature: string): boolean {
  const expected = Buffer.from(sign(secret, fields, body));
  const received = Buffer.from(signature);
  return expected.length === received.length && timingSafeEqual(expected, received);
}
