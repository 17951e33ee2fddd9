import {
  createHook,
  getStepMetadata,
  getWorkflowMetadata,
  getWritable,
  RetryableError,
  sleep,
} from 'workflow';
import type { StringValue } from 'ms';
import { approvalToken } from '../approval-token.mjs';

/** The run's named stream holding the order's audit trail. */
const AUDIT_STREAM = 'audit';

export interface OrderLine {
  sku: string;
  quantity: number;
  unitPrice: number;
}

export interface Order {
  customer: string;
  lines: OrderLine[];
  /** How long to wait before asking for approval, in `ms` syntax ('3s', '1m'). */
  coolingOff: StringValue;
}

export interface Approval {
  approvedBy: string;
}

export type Stage =
  | 'stock-reserved'
  | 'payment-retrying'
  | 'payment-charged'
  | 'cooling-off'
  | 'awaiting-approval'
  | 'approved'
  | 'confirmed';

/** A stage of the order and its details, as the steps report it. */
export interface ProgressEvent {
  stage: Stage;
  [detail: string]: unknown;
}

/** One line of the order's progress stream (`GET /orders/:id/progress`). */
export type Progress = ProgressEvent & { at: string };

/**
 * An order from checkout to confirmation. The order id is the run id. Stock is reserved, the
 * card charged (the simulated provider times out on the first attempt, so the runtime retries
 * that step), a cooling-off `sleep` passes, a person approves over HTTP through a hook whose
 * token derives from the order id, and a confirmation goes out. Each stage is appended to the
 * run's default stream, which clients can tail live or replay later.
 */
export async function processOrder(order: Order) {
  'use workflow';
  const { workflowRunId: orderId } = getWorkflowMetadata();

  const reservation = await reserveStock(order);
  const payment = await chargePayment(order);

  await recordProgress({ stage: 'cooling-off', duration: order.coolingOff }, `sleeping ${order.coolingOff} (cooling-off)`);
  await sleep(order.coolingOff);

  // The hook is registered when the workflow next suspends, i.e. at the step below, so the
  // approval endpoint can resume it as soon as 'awaiting-approval' has been written.
  const approvalHook = createHook<Approval>({ token: approvalToken(orderId) });
  await recordProgress(
    { stage: 'awaiting-approval', approveWith: `POST /orders/${orderId}/approve` },
    `waiting for approval: POST /orders/${orderId}/approve`,
  );
  const approval = await approvalHook;

  const confirmation = await sendConfirmation(order, approval);
  return {
    orderId,
    status: 'confirmed' as const,
    reservationId: reservation.reservationId,
    paymentId: payment.paymentId,
    amount: payment.amount,
    chargeAttempts: payment.attempts,
    approvedBy: approval.approvedBy,
    confirmationId: confirmation.confirmationId,
  };
}

async function reserveStock(order: Order) {
  'use step';
  // The step id is stable across retries: ids minted from it make the step idempotent.
  const reservationId = `res_${getStepMetadata().stepId}`;
  const units = order.lines.reduce((sum, line) => sum + line.quantity, 0);
  await progress({ stage: 'stock-reserved', reservationId, units }, `reserved ${units} unit(s)`);
  await audit(`reserved ${units} unit(s) as ${reservationId}`);
  return { reservationId };
}

async function chargePayment(order: Order) {
  'use step';
  const { attempt, stepId } = getStepMetadata();
  const amount = order.lines.reduce((sum, line) => sum + line.quantity * line.unitPrice, 0);
  if (attempt === 1) {
    await progress({ stage: 'payment-retrying', attempt }, `charge attempt ${attempt} failed, retrying`);
    throw new RetryableError('payment provider timed out (simulated)', { retryAfter: '1s' });
  }
  const paymentId = `pay_${stepId}`;
  await progress({ stage: 'payment-charged', attempt, amount, paymentId }, `charged ${amount} on attempt ${attempt}`);
  return { paymentId, amount, attempts: attempt };
}

/** A step of its own so that workflow-level stages (sleep, approval) reach the stream too. */
async function recordProgress(event: ProgressEvent, summary: string) {
  'use step';
  await progress(event, summary);
}

async function sendConfirmation(order: Order, approval: Approval) {
  'use step';
  const confirmationId = `conf_${getStepMetadata().stepId}`;
  // One writable for the writes and the close: writes are buffered per writable, and a close
  // through another instance could land before they are flushed, dropping them.
  const writable = getWritable<Progress>();
  await progress({ stage: 'approved', approvedBy: approval.approvedBy }, `approved by ${approval.approvedBy}`, writable);
  await progress(
    { stage: 'confirmed', confirmationId, to: order.customer },
    `confirmation sent to ${order.customer}; order complete`,
    writable,
  );
  // Closing ends every reader's tail: the order has nothing more to report.
  await writable.close();
  await audit(`confirmation ${confirmationId} sent to ${order.customer}`, { close: true });
  return { confirmationId };
}

/** Appends one progress line to the run's stream and logs it; called from steps only. */
async function progress(event: ProgressEvent, summary: string, writable = getWritable<Progress>()) {
  const { workflowRunId } = getWorkflowMetadata();
  console.log(`[order-app] order ${workflowRunId}: ${summary}`);
  const writer = writable.getWriter();
  try {
    await writer.write({ ...event, at: new Date().toISOString() });
  } finally {
    writer.releaseLock();
  }
}

/**
 * Appends one line to the order's audit trail, a second, named stream of the run
 * (`GET /orders/:id/progress?stream=audit`); the last line closes it.
 */
async function audit(line: string, { close = false } = {}) {
  const writable = getWritable<string>({ namespace: AUDIT_STREAM });
  const writer = writable.getWriter();
  try {
    await writer.write(line);
  } finally {
    writer.releaseLock();
  }
  if (close) await writable.close();
}
