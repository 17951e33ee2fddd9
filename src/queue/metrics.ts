/** Counters of one World instance's queue since it was created; `inFlight` is a gauge. */
export interface QueueMetrics {
  /** Deliveries that finished (handler returned without `timeoutSeconds`). */
  delivered: number;
  /** Deliveries that returned `{ timeoutSeconds }` and were rescheduled. */
  rescheduled: number;
  /** Failed deliveries scheduled for another attempt. */
  retried: number;
  /** Messages moved to the dead-letter state after their last attempt. */
  deadLettered: number;
  /** Deliveries whose lease was taken over before they finished (their result was not recorded). */
  leaseLost: number;
  /** Active runs with no live message that reconciliation re-enqueued. */
  reconciled: number;
  /** Handlers running now. */
  inFlight: number;
}

export function createMetrics(): QueueMetrics {
  return { delivered: 0, rescheduled: 0, retried: 0, deadLettered: 0, leaseLost: 0, reconciled: 0, inFlight: 0 };
}
