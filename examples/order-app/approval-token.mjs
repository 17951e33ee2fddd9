/**
 * The approval hook's token, derived from the order id (the run id) alone: the workflow
 * registers its hook under it and `POST /orders/:id/approve` resumes it, with no lookup table
 * in between. Shared by workflows/order.ts and server.mjs so the two cannot drift apart.
 *
 * @param {string} orderId
 * @returns {string}
 */
export function approvalToken(orderId) {
  return `order-approval:${orderId}`;
}
