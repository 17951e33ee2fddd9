import type { QueueKind, QueueOptions } from '@workflow/world';
import { parseQueueName } from '@workflow/world';
import type { TransactionSql } from 'postgres';
import { encode } from '../codec.js';
import type { Db } from '../db/client.js';
import { query } from '../db/statement.js';
import { withRetry } from '../db/transient-retry.js';
import { worldErrors } from '../errors.js';
import type { Waker } from './wake.js';

/**
 * `queue()`: the message is durable before the call returns. Idempotency is enforced by the
 * database (a unique index over keys of live messages, and of finished ones during the
 * idempotency window), so the same key returns the same message id from any process, and a
 * repeat never resets the first message's delay.
 */
export interface NewMessage {
  queueName: string;
  kind: QueueKind;
  runId: string | null;
  payload: Buffer;
  headers: Record<string, string> | null;
  idempotencyKey: string | null;
  delayMs: number;
}

/** Validates and encodes a `queue()` call. Throws `WorkflowWorldError` 400 on a bad request. */
export function prepareMessage(queueName: string, message: unknown, opts: QueueOptions = {}): NewMessage {
  let kind: QueueKind;
  try {
    kind = parseQueueName(queueName as Parameters<typeof parseQueueName>[0]).kind;
  } catch {
    throw worldErrors.badRequest(`invalid queue name "${queueName}": expected __wkf_workflow_… or __wkf_step_…`);
  }
  const delaySeconds = opts.delaySeconds ?? 0;
  if (typeof delaySeconds !== 'number' || !Number.isFinite(delaySeconds)) {
    throw worldErrors.badRequest('delaySeconds must be a finite number');
  }
  const body = (message ?? {}) as { runId?: unknown; workflowRunId?: unknown };
  const runId = kind === 'workflow' ? body.runId : body.workflowRunId;
  const headers = opts.headers && Object.keys(opts.headers).length > 0 ? opts.headers : null;
  return {
    queueName,
    kind,
    runId: typeof runId === 'string' ? runId : null,
    payload: Buffer.from(encode(message)),
    headers,
    idempotencyKey: opts.idempotencyKey ?? null,
    delayMs: Math.max(0, Math.round(delaySeconds * 1000)),
  };
}

/** The message holding an idempotency key. Index: messages_idempotency_key_idx. */
export const keyHolderSql = (s: string) =>
  `select id, (state = 'done' and finished_at <= now() - $2 * interval '1 millisecond') as expired
     from ${s}.messages where idempotency_key = $1 and state <> 'dead'`;

/**
 * Inserts `msg` under `id` (or finds the live message holding its key) and returns the id that
 * answers the call, and whether a new message was inserted (the caller then wakes the workers,
 * after commit). Runs in `tx` when given. Safe to repeat with the same id.
 */
export async function insertMessage(
  db: Db,
  id: string,
  msg: NewMessage,
  tx?: TransactionSql,
): Promise<{ messageId: string; inserted: boolean }> {
  const s = db.ident;
  // A finished message whose window has passed frees its key; a concurrent enqueuer may take it
  // first, which is why this loops. Three rounds are plenty: each one sees a newer committed state.
  for (let round = 0; round < 3; round++) {
    const inserted = await query<{ id: string }>(
      db,
      `insert into ${s}.messages (id, queue_name, kind, run_id, payload, headers, idempotency_key, run_at)
       values ($1, $2, $3, $4, $5, $6, $7, now() + $8 * interval '1 millisecond')
       on conflict do nothing
       returning id`,
      [id, msg.queueName, msg.kind, msg.runId, msg.payload, msg.headers, msg.idempotencyKey, msg.delayMs],
      { tx },
    );
    if (inserted.length > 0) return { messageId: id, inserted: true };
    // Without a key the only possible conflict is our own id: an earlier try did commit.
    if (msg.idempotencyKey === null) return { messageId: id, inserted: true };
    const [holder] = await query<{ id: string; expired: boolean }>(
      db,
      keyHolderSql(s),
      [msg.idempotencyKey, db.config.queueIdempotencyWindowMs],
      { tx },
    );
    if (holder && !holder.expired) return { messageId: holder.id, inserted: holder.id === id };
    if (holder) {
      await query(db, `delete from ${s}.messages where id = $1 and state = 'done'`, [holder.id], { tx });
    }
  }
  throw worldErrors.unavailable(`could not enqueue to ${msg.queueName}: idempotency key kept changing hands`);
}

/**
 * Enqueues `msg` under `id` now (retried: the id makes a repeat a no-op) and wakes the workers.
 * Returns the id that answers `queue()`.
 */
export async function enqueueMessage(db: Db, waker: Waker, id: string, msg: NewMessage): Promise<string> {
  const { messageId, inserted } = await withRetry(() => insertMessage(db, id, msg), {
    what: `enqueueing to ${msg.queueName}`,
    context: { runId: msg.runId ?? undefined },
  });
  if (inserted) void waker.wake();
  return messageId;
}
