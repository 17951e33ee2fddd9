import type { World } from '@workflow/world';
import { afterAll, beforeAll, expect } from 'vitest';
import type { Area } from '../area.js';
import type { Fixtures } from '../harness.js';
import { RouteHost } from '../route-host.js';
import { allBytes, bytesEqual, delay, type Loose, newRunId, newStepId, nonce, randomPayload, waitFor } from '../util.js';

interface Delivery {
  id: string;
  message: Loose;
  meta: { attempt: number; queueName: string; messageId: string };
  kind: 'workflow' | 'step';
  at: number;
  endedAt?: number;
}
type Behaviour = (d: Delivery, nth: number) => Promise<void | { timeoutSeconds: number }>;

/**
 * Records deliveries of the messages this test queued (others, left over by earlier tests on
 * shared storage, are acknowledged and ignored) and answers as each test wants.
 */
class Inbox {
  readonly deliveries: Delivery[] = [];
  private readonly mine = new Set<string>();
  private behaviour: Behaviour = async () => undefined;

  expect(id: string): string {
    this.mine.add(id);
    return id;
  }
  answer(behaviour: Behaviour): void {
    this.behaviour = behaviour;
  }
  of(id: string): Delivery[] {
    return this.deliveries.filter((d) => d.id === id);
  }
  handler(kind: 'workflow' | 'step') {
    return async (message: unknown, meta: { attempt: number; queueName: string; messageId: string }) => {
      const m = message as Loose;
      const id = (m?.stepId ?? m?.runId ?? m?.correlationId) as string | undefined;
      if (!id || !this.mine.has(id)) return undefined;
      const d: Delivery = { id, message: m, meta: { ...meta }, kind, at: Date.now() };
      this.deliveries.push(d);
      try {
        return await this.behaviour(d, this.of(id).length);
      } finally {
        d.endedAt = Date.now();
      }
    };
  }
}

interface QueueRig {
  inbox: Inbox;
  host: RouteHost;
  /** Instance that queues (never started unless it is the consumer). */
  producer: World;
  consumer: World;
  close(): Promise<void>;
}

/**
 * The runtime's arrangement (docs/world-contract.md §1.3): handlers are created on one
 * instance (never started), `start()` is called on another, and `queue()` may come from a third.
 */
let host: RouteHost | undefined;

async function rig(
  fx: Fixtures,
  layout: 'same' | 'separate' = 'same',
  prefixes = { workflow: '__wkf_workflow_', step: '__wkf_step_' },
  consumer: World = fx.world,
): Promise<QueueRig> {
  if (!host) throw new Error('the route host did not start');
  const h = host;
  const inbox = new Inbox();
  const handlerWorld = layout === 'same' ? consumer : await fx.worlds.create();
  const producer = layout === 'same' ? consumer : await fx.worlds.create();
  const createQueueHandler = handlerWorld.createQueueHandler; // detached, as the runtime calls it
  h.mount('flow', createQueueHandler(prefixes.workflow as Loose, inbox.handler('workflow')));
  h.mount('step', createQueueHandler(prefixes.step as Loose, inbox.handler('step')));
  await consumer.start?.();
  return { inbox, host: h, producer, consumer, close: async () => h.unmountAll() };
}

const flowQueue = `__wkf_workflow_workflow//./src/conformance/${nonce()}.ts//flow` as Loose;
const stepQueue = `__wkf_step_step//./src/conformance/${nonce()}.ts//add` as Loose;

function workflowMessage(runId: string, extra: Record<string, unknown> = {}): Loose {
  return { runId, requestedAt: new Date(), ...extra };
}

const GRACE_MS = 2000;

/** docs/world-contract.md §2.7 (queue), §1.3 (instances), §6.5. */
export function queueArea({ must, should, capabilities }: Area): void {
  const noQueue = capabilities.queue ? false : 'capability queue is off';

  // One host for the whole area, started before any World of the area is built: a World may
  // read PORT when it is constructed (pg-4.3.7 does).
  beforeAll(async () => {
    if (noQueue) return;
    host = new RouteHost();
    await host.start();
  });
  afterAll(async () => {
    await host?.close();
    host = undefined;
  });
  const noCross = noQueue || (!capabilities.crossInstanceDelivery || !capabilities.multipleInstances ? 'capability crossInstanceDelivery is off' : false);

  must('a workflow message reaches the workflow handler once, payload intact, meta { attempt: 1, queueName, messageId }', async (fx) => {
    const q = await rig(fx);
    try {
      const runId = q.inbox.expect(newRunId());
      const input = allBytes();
      const requestedAt = new Date();
      const message = workflowMessage(runId, {
        requestedAt,
        traceCarrier: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
        runInput: { input, deploymentId: 'dpl_q', workflowName: 'workflow//./q.ts//flow', specVersion: 3, executionContext: { a: 1 } },
      });
      const { messageId } = await q.producer.queue(flowQueue, message, { deploymentId: 'dpl_q', specVersion: 3 });
      const d = await waitFor(() => q.inbox.of(runId)[0], 'the delivery');
      await delay(GRACE_MS);
      expect(q.inbox.of(runId).length).toBe(1);
      expect(d.kind).toBe('workflow');
      expect(d.meta.attempt).toBe(1);
      expect(d.meta.queueName).toBe(flowQueue);
      expect(typeof d.meta.messageId).toBe('string');
      if (messageId !== null) expect(d.meta.messageId).toBe(messageId);
      expect(d.message.runId).toBe(runId);
      expect(d.message.traceCarrier).toEqual(message.traceCarrier);
      expect(new Date(d.message.requestedAt).getTime()).toBe(requestedAt.getTime());
      expect(d.message.runInput.input).toBeInstanceOf(Uint8Array);
      expect(bytesEqual(d.message.runInput.input, input)).toBe(true);
      expect(d.message.runInput).toMatchObject({ deploymentId: 'dpl_q', workflowName: 'workflow//./q.ts//flow', specVersion: 3, executionContext: { a: 1 } });
    } finally {
      await q.close();
    }
  }, { skip: noQueue });

  must('a step message reaches the step handler (routing by kind), never the workflow handler', async (fx) => {
    const q = await rig(fx);
    try {
      const stepId = q.inbox.expect(newStepId());
      const workflowRunId = newRunId();
      const startedAt = Date.now();
      await q.producer.queue(stepQueue, { workflowName: 'workflow//./q.ts//flow', workflowRunId, workflowStartedAt: startedAt, stepId, requestedAt: new Date() }, { idempotencyKey: stepId });
      const d = await waitFor(() => q.inbox.of(stepId)[0], 'the step delivery');
      await delay(GRACE_MS);
      expect(q.inbox.of(stepId).map((x) => x.kind)).toEqual(['step']);
      expect(d.meta.queueName).toBe(stepQueue);
      expect(d.message).toMatchObject({ workflowRunId, workflowStartedAt: startedAt, stepId });
    } finally {
      await q.close();
    }
  }, { skip: noQueue });

  must('a started instance delivers to handlers created on another instance, for messages queued by a third', async (fx) => {
    const q = await rig(fx, 'separate');
    try {
      const runId = q.inbox.expect(newRunId());
      const stepId = q.inbox.expect(newStepId());
      await q.producer.queue(flowQueue, workflowMessage(runId));
      await q.producer.queue(stepQueue, { workflowName: 'w', workflowRunId: runId, workflowStartedAt: Date.now(), stepId });
      await waitFor(() => q.inbox.of(runId).length === 1 && q.inbox.of(stepId).length === 1, 'both deliveries');
    } finally {
      await q.close();
    }
  }, { skip: noCross });

  must('Uint8Array payloads of 1 MiB round-trip byte-exactly through the queue', async (fx) => {
    const q = await rig(fx);
    try {
      const runId = q.inbox.expect(newRunId());
      const input = randomPayload(1024 * 1024);
      await q.producer.queue(flowQueue, workflowMessage(runId, { runInput: { input, deploymentId: 'd', workflowName: 'w', specVersion: 3 } }));
      const d = await waitFor(() => q.inbox.of(runId)[0], 'the delivery');
      expect(d.message.runInput.input).toBeInstanceOf(Uint8Array);
      expect(bytesEqual(d.message.runInput.input, input)).toBe(true);
    } finally {
      await q.close();
    }
  }, { skip: noQueue });

  must('idempotencyKey: a repeat while the first message is delayed enqueues nothing and does not reset the delay', async (fx) => {
    const q = await rig(fx);
    try {
      const first = q.inbox.expect(newRunId());
      const second = q.inbox.expect(newRunId());
      const key = `step_${nonce()}`;
      const t0 = Date.now();
      await q.producer.queue(flowQueue, workflowMessage(first), { idempotencyKey: key, delaySeconds: 3 });
      await delay(200);
      const repeatedAt = Date.now();
      await q.producer.queue(flowQueue, workflowMessage(second), { idempotencyKey: key });
      const early = q.inbox.of(first)[0];
      expect(early === undefined || early.at > repeatedAt, 'precondition: the first message must still be delayed (delaySeconds ignored?)').toBe(true);
      const d = await waitFor(() => q.inbox.of(first)[0] ?? q.inbox.of(second)[0], 'a delivery', 30_000);
      await delay(GRACE_MS);
      expect(q.inbox.of(second).length, 'the repeat must not be delivered').toBe(0);
      expect(q.inbox.of(first).length).toBe(1);
      expect(d.at - t0, 'the repeat must not reset the delay').toBeGreaterThanOrEqual(3000 - 50);
    } finally {
      await q.close();
    }
  }, { skip: noQueue });

  should('idempotencyKey: the repeat returns the original messageId', async (fx) => {
    const q = await rig(fx);
    try {
      const runId = q.inbox.expect(newRunId());
      const key = `step_${nonce()}`;
      const a = await q.producer.queue(flowQueue, workflowMessage(runId), { idempotencyKey: key, delaySeconds: 2 });
      const b = await q.producer.queue(flowQueue, workflowMessage(runId), { idempotencyKey: key });
      expect(a.messageId).toEqual(expect.any(String));
      expect(b.messageId).toBe(a.messageId);
    } finally {
      await q.close();
    }
  }, { skip: noQueue });

  must('idempotencyKey: a repeat while the message is being delivered starts no parallel delivery', async (fx) => {
    const q = await rig(fx);
    try {
      const first = q.inbox.expect(newRunId());
      const second = q.inbox.expect(newRunId());
      const key = `step_${nonce()}`;
      q.inbox.answer(async (d) => {
        if (d.id === first) await delay(1500);
      });
      await q.producer.queue(flowQueue, workflowMessage(first), { idempotencyKey: key });
      await waitFor(() => q.inbox.of(first)[0], 'the first delivery');
      await q.producer.queue(flowQueue, workflowMessage(second), { idempotencyKey: key });
      await waitFor(() => q.inbox.of(first)[0]?.endedAt, 'the first delivery to finish');
      const during = q.inbox.of(second).filter((d) => d.at < (q.inbox.of(first)[0]?.endedAt ?? 0));
      expect(during.length, 'no delivery of the repeat while the first is in flight').toBe(0);
    } finally {
      await q.close();
    }
  }, { skip: noQueue });

  must('messages without an idempotencyKey are always new: two deliveries, two messageIds', async (fx) => {
    const q = await rig(fx);
    try {
      const runId = q.inbox.expect(newRunId());
      const a = await q.producer.queue(flowQueue, workflowMessage(runId));
      const b = await q.producer.queue(flowQueue, workflowMessage(runId));
      if (a.messageId !== null && b.messageId !== null) expect(a.messageId).not.toBe(b.messageId);
      await waitFor(() => q.inbox.of(runId).length >= 2, 'two deliveries');
      expect(new Set(q.inbox.of(runId).map((d) => d.meta.messageId)).size).toBe(2);
    } finally {
      await q.close();
    }
  }, { skip: noQueue });

  must('delaySeconds: the first delivery comes no earlier than the delay', async (fx) => {
    const q = await rig(fx);
    try {
      const runId = q.inbox.expect(newRunId());
      const t0 = Date.now();
      await q.producer.queue(flowQueue, workflowMessage(runId), { delaySeconds: 2 });
      const d = await waitFor(() => q.inbox.of(runId)[0], 'the delayed delivery', 45_000);
      expect(d.at - t0).toBeGreaterThanOrEqual(2000 - 50);
    } finally {
      await q.close();
    }
  }, { skip: noQueue });

  must('a handler result { timeoutSeconds: 1 } redelivers the same payload no earlier than 1 s later', async (fx) => {
    const q = await rig(fx);
    try {
      const runId = q.inbox.expect(newRunId());
      q.inbox.answer(async (_d, nth) => (nth === 1 ? { timeoutSeconds: 1 } : undefined));
      const { messageId } = await q.producer.queue(flowQueue, workflowMessage(runId, { runInput: { input: allBytes(), deploymentId: 'd', workflowName: 'w', specVersion: 3 } }));
      const [one, two] = await waitFor(() => (q.inbox.of(runId).length >= 2 ? q.inbox.of(runId) : undefined), 'the redelivery', 45_000);
      expect(two!.at - one!.endedAt!).toBeGreaterThanOrEqual(1000 - 50);
      expect(bytesEqual(two!.message.runInput.input, allBytes())).toBe(true);
      if (messageId !== null) expect(two!.meta.messageId).toBe(messageId);
      await delay(GRACE_MS);
      expect(q.inbox.of(runId).length, 'done after the handler resolves undefined').toBe(2);
    } finally {
      await q.close();
    }
  }, { skip: noQueue });

  should('a { timeoutSeconds } reschedule restarts attempt at 1', async (fx) => {
    const q = await rig(fx);
    try {
      const runId = q.inbox.expect(newRunId());
      q.inbox.answer(async (_d, nth) => (nth === 1 ? { timeoutSeconds: 1 } : undefined));
      await q.producer.queue(flowQueue, workflowMessage(runId));
      const list = await waitFor(() => (q.inbox.of(runId).length >= 2 ? q.inbox.of(runId) : undefined), 'the redelivery', 45_000);
      expect(list.map((d) => d.meta.attempt)).toEqual([1, 1]);
    } finally {
      await q.close();
    }
  }, { skip: noQueue });

  must('a handler result { timeoutSeconds: 0 } redelivers as soon as possible', async (fx) => {
    const q = await rig(fx);
    try {
      const runId = q.inbox.expect(newRunId());
      q.inbox.answer(async (_d, nth) => (nth < 3 ? { timeoutSeconds: 0 } : undefined));
      await q.producer.queue(flowQueue, workflowMessage(runId));
      await waitFor(() => q.inbox.of(runId).length >= 3, 'two immediate redeliveries', 45_000);
    } finally {
      await q.close();
    }
  }, { skip: noQueue });

  must('a throwing handler is redelivered with attempt 1, 2, 3…', async (fx) => {
    const q = await rig(fx);
    try {
      const runId = q.inbox.expect(newRunId());
      q.inbox.answer(async (_d, nth) => {
        if (nth < 3) throw new Error(`conformance: planned failure ${nth}`);
      });
      await q.producer.queue(flowQueue, workflowMessage(runId));
      const list = await waitFor(() => (q.inbox.of(runId).length >= 3 ? q.inbox.of(runId) : undefined), 'two redeliveries after failures', 90_000);
      expect(list.map((d) => d.meta.attempt)).toEqual([1, 2, 3]);
      expect(new Set(list.map((d) => d.message.runId))).toEqual(new Set([runId]));
      await delay(GRACE_MS);
      expect(q.inbox.of(runId).length, 'done once the handler succeeds').toBe(3);
    } finally {
      await q.close();
    }
  }, { skip: noQueue, timeout: 120_000 });

  must('50 messages queued at once are all delivered', async (fx) => {
    const q = await rig(fx);
    try {
      const ids = Array.from({ length: 50 }, () => q.inbox.expect(newRunId()));
      await Promise.all(ids.map((id) => q.producer.queue(flowQueue, workflowMessage(id))));
      await waitFor(() => ids.every((id) => q.inbox.of(id).length >= 1), 'every delivery', 60_000);
    } finally {
      await q.close();
    }
  }, { skip: noQueue });

  must('namespaced queues (WORKFLOW_QUEUE_NAMESPACE): __<ns>_wkf_ handlers get their messages, bare __wkf_step_ step messages included', async (fx) => {
    const ns = `conf${nonce().slice(0, 6)}`;
    const previous = process.env.WORKFLOW_QUEUE_NAMESPACE;
    process.env.WORKFLOW_QUEUE_NAMESPACE = ns; // as the runtime's process would have it
    let q: QueueRig | undefined;
    try {
      const consumer = await fx.worlds.create();
      q = await rig(fx, 'same', { workflow: `__${ns}_wkf_workflow_`, step: `__${ns}_wkf_step_` }, consumer);
      const runId = q.inbox.expect(newRunId());
      const stepId = q.inbox.expect(newStepId());
      await consumer.queue(`__${ns}_wkf_workflow_workflow//./q.ts//flow` as Loose, workflowMessage(runId));
      // the 4.8.9 suspension handler enqueues steps with the bare prefix even when namespaced
      await consumer.queue(stepQueue, { workflowName: 'w', workflowRunId: runId, workflowStartedAt: Date.now(), stepId });
      await waitFor(() => q!.inbox.of(runId)[0], 'the namespaced workflow delivery');
      await waitFor(() => q!.inbox.of(stepId)[0], 'the bare-prefix step delivery');
      expect(q.inbox.of(runId)[0]?.kind).toBe('workflow');
      expect(q.inbox.of(stepId)[0]?.kind).toBe('step');
    } finally {
      if (previous === undefined) delete process.env.WORKFLOW_QUEUE_NAMESPACE;
      else process.env.WORKFLOW_QUEUE_NAMESPACE = previous;
      await q?.close();
    }
  }, { skip: noQueue });

  must('messages queued before start() are delivered once an instance starts', async (fx) => {
    if (!host) throw new Error('the route host did not start');
    const inbox = new Inbox();
    try {
      const producer = fx.world;
      const consumer = capabilities.multipleInstances ? await fx.worlds.create() : producer;
      // as in an app: route modules create their handlers at load time, the app starts the World later
      host.mount('flow', consumer.createQueueHandler('__wkf_workflow_', inbox.handler('workflow')));
      host.mount('step', consumer.createQueueHandler('__wkf_step_', inbox.handler('step')));
      const runId = inbox.expect(newRunId());
      await producer.queue(flowQueue, workflowMessage(runId));
      await delay(300);
      await consumer.start?.();
      await waitFor(() => inbox.of(runId)[0], 'the delivery of the backlog', 45_000);
    } finally {
      host.unmountAll();
    }
  }, { skip: noQueue });
}
