import type { World } from '@workflow/world';
import { expect } from 'vitest';
import type { Area } from '../area.js';
import { createHook, createRun, createStep, runningRun, send, workflowName } from '../fixtures.js';
import { type Loose, newHookId, newRunId, nonce, payload, rejection } from '../util.js';

type Order = 'asc' | 'desc';
interface Page {
  ids: string[];
  cursor: string | null;
  hasMore: boolean;
}
interface Fixture {
  /** Ids in creation order. */
  ids: string[];
  list(pagination: { limit?: number; cursor?: string; sortOrder?: Order }): Promise<Page>;
  /** The same list call for something that has no items. */
  listEmpty(pagination: { limit?: number; sortOrder?: Order }): Promise<Page>;
  /** Appends one more item; returns its id. */
  append(): Promise<string>;
}
interface Lister {
  name: string;
  defaultOrder: Order;
  setup(world: World, n: number, concurrent: boolean): Promise<Fixture>;
}

const page = (res: { data: unknown[]; cursor: string | null; hasMore: boolean }, id: (x: Loose) => string): Page => ({
  ids: res.data.map(id),
  cursor: res.cursor,
  hasMore: res.hasMore,
});

async function times(n: number, concurrent: boolean, make: () => Promise<string>): Promise<string[]> {
  if (concurrent) return Promise.all(Array.from({ length: n }, make));
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(await make());
  return out;
}

const listers: Lister[] = [
  {
    name: 'runs.list',
    defaultOrder: 'desc',
    async setup(world, n, concurrent) {
      const name = workflowName();
      const ids = await times(n, concurrent, () => createRun(world, { workflowName: name }));
      return {
        ids,
        list: async (pagination) => page(await world.runs.list({ workflowName: name, pagination }), (r) => r.runId),
        listEmpty: async (pagination) => page(await world.runs.list({ workflowName: workflowName(), pagination }), (r) => r.runId),
        append: () => createRun(world, { workflowName: name }),
      };
    },
  },
  {
    name: 'steps.list',
    defaultOrder: 'desc',
    async setup(world, n, concurrent) {
      const runId = await runningRun(world);
      const empty = await runningRun(world);
      const ids = await times(n, concurrent, () => createStep(world, runId));
      return {
        ids,
        list: async (pagination) => page(await world.steps.list({ runId, pagination }), (s) => s.stepId),
        listEmpty: async (pagination) => page(await world.steps.list({ runId: empty, pagination }), (s) => s.stepId),
        append: () => createStep(world, runId),
      };
    },
  },
  {
    name: 'events.list',
    defaultOrder: 'asc',
    async setup(world, n, concurrent) {
      const runId = await runningRun(world);
      const hookId = newHookId();
      await createHook(world, runId, hookId, `tok-${nonce()}`);
      const receive = async () =>
        (await send(world, runId, { eventType: 'hook_received', correlationId: hookId, eventData: { payload: payload(1) } })).event
          .eventId as string;
      const head = (await world.events.list({ runId, pagination: { sortOrder: 'asc' } })).data.map((e) => e.eventId);
      const ids = [...head, ...(await times(n - head.length, concurrent, receive))];
      return {
        ids,
        list: async (pagination) => page(await world.events.list({ runId, pagination }), (e) => e.eventId),
        listEmpty: async (pagination) => page(await world.events.list({ runId: newRunId(), pagination }), (e) => e.eventId),
        append: receive,
      };
    },
  },
  {
    name: 'events.listByCorrelationId',
    defaultOrder: 'asc',
    async setup(world, n, concurrent) {
      const runId = await runningRun(world);
      const hookId = newHookId();
      const created = await createHook(world, runId, hookId, `tok-${nonce()}`);
      const receive = async () =>
        (await send(world, runId, { eventType: 'hook_received', correlationId: hookId, eventData: { payload: payload(2) } })).event
          .eventId as string;
      const ids = [created.event.eventId as string, ...(await times(n - 1, concurrent, receive))];
      return {
        ids,
        list: async (pagination) =>
          page(await world.events.listByCorrelationId({ correlationId: hookId, runId, pagination }), (e) => e.eventId),
        listEmpty: async (pagination) =>
          page(await world.events.listByCorrelationId({ correlationId: newHookId(), runId, pagination }), (e) => e.eventId),
        append: receive,
      };
    },
  },
  {
    name: 'hooks.list',
    defaultOrder: 'asc',
    async setup(world, n, concurrent) {
      const runId = await runningRun(world);
      const empty = await runningRun(world);
      const make = async () => {
        const hookId = newHookId();
        await createHook(world, runId, hookId, `tok-${nonce()}`);
        return hookId;
      };
      const ids = await times(n, concurrent, make);
      return {
        ids,
        list: async (pagination) => page(await world.hooks.list({ runId, pagination }), (h) => h.hookId),
        listEmpty: async (pagination) => page(await world.hooks.list({ runId: empty, pagination }), (h) => h.hookId),
        append: make,
      };
    },
  },
];

/** Follows cursors from the first page; checks the MUST rules on the way (§2.1). */
async function walk(fixture: Fixture, sortOrder: Order | undefined, limit: number): Promise<{ ids: string[]; pages: Page[] }> {
  const pages: Page[] = [];
  const cursors = new Set<string>();
  let cursor: string | undefined;
  for (let i = 0; i < 100; i++) {
    const p = await fixture.list({ limit, ...(sortOrder ? { sortOrder } : {}), ...(cursor ? { cursor } : {}) });
    pages.push(p);
    expect(p.ids.length, `page ${i} size`).toBeLessThanOrEqual(limit);
    if (!p.hasMore) break;
    expect(p.cursor, `page ${i}: hasMore: true needs a cursor`).toEqual(expect.any(String));
    expect(cursors.has(p.cursor!), `page ${i}: hasMore: true with an already used cursor`).toBe(false);
    cursors.add(p.cursor!);
    cursor = p.cursor!;
  }
  return { ids: pages.flatMap((p) => p.ids), pages };
}

/** docs/world-contract.md §2.1 (pagination and cursors) for every list call, plus §8 listing. */
export function paginationArea({ must, should }: Area): void {
  for (const lister of listers) {
    must(`${lister.name}: pages of 3 reassemble creation order (asc) and its reverse (desc); hasMore is exact`, async ({ world }) => {
      const fx = await lister.setup(world, 7, false);
      for (const order of ['asc', 'desc'] as const) {
        const expected = order === 'asc' ? fx.ids : [...fx.ids].reverse();
        const { ids, pages } = await walk(fx, order, 3);
        expect(ids, `${order}`).toEqual(expected);
        expect(pages.map((p) => p.hasMore), `${order} hasMore per page`).toEqual([true, true, false]);
        expect(pages.map((p) => p.ids.length)).toEqual([3, 3, 1]);
      }
    });

    must(`${lister.name}: a page cursor resumes strictly after that page in either order`, async ({ world }) => {
      const fx = await lister.setup(world, 6, false);
      for (const order of ['asc', 'desc'] as const) {
        const expected = order === 'asc' ? fx.ids : [...fx.ids].reverse();
        const first = await fx.list({ limit: 2, sortOrder: order });
        expect(first.ids).toEqual(expected.slice(0, 2));
        const rest = await fx.list({ limit: 100, sortOrder: order, cursor: first.cursor! });
        expect(rest.ids).toEqual(expected.slice(2));
        expect(rest.hasMore).toBe(false);
        // the same cursor again gives the same page (cursors are positions, not consumable tokens)
        expect((await fx.list({ limit: 100, sortOrder: order, cursor: first.cursor! })).ids).toEqual(expected.slice(2));
      }
    });

    must(`${lister.name}: items created concurrently page with limit 1 without loss or duplicates`, async ({ world }) => {
      const fx = await lister.setup(world, 12, true);
      const asc = (await walk(fx, 'asc', 1)).ids;
      const desc = (await walk(fx, 'desc', 1)).ids;
      expect([...asc].sort()).toEqual([...fx.ids].sort());
      expect(desc).toEqual([...asc].reverse());
    });

    should(`${lister.name}: the final page keeps a non-null cursor that later yields only newer items`, async ({ world }) => {
      const fx = await lister.setup(world, 4, false);
      const last = await fx.list({ limit: 100, sortOrder: 'asc' });
      expect(last.hasMore).toBe(false);
      expect(last.cursor).toEqual(expect.any(String));
      const added = [await fx.append(), await fx.append()];
      const next = await fx.list({ limit: 100, sortOrder: 'asc', cursor: last.cursor! });
      expect(next.ids).toEqual(added);
    });

    should(`${lister.name}: an empty page has cursor null`, async ({ world }) => {
      const fx = await lister.setup(world, 1, false);
      const empty = await fx.listEmpty({ limit: 10, sortOrder: 'asc' });
      expect(empty.ids).toEqual([]);
      expect(empty.hasMore).toBe(false);
      expect(empty.cursor).toBeNull();
    });

    should(`${lister.name}: the default order is ${lister.defaultOrder}`, async ({ world }) => {
      const fx = await lister.setup(world, 4, false);
      const expected = lister.defaultOrder === 'asc' ? fx.ids : [...fx.ids].reverse();
      expect((await fx.list({ limit: 100 })).ids).toEqual(expected);
    });

    should(`${lister.name}: an unparseable cursor throws WorkflowWorldError with status 400`, async ({ world }) => {
      const fx = await lister.setup(world, 1, false);
      const error = await rejection(fx.list({ limit: 10, cursor: '%%not-a-cursor%%' }), `${lister.name} with a bad cursor`);
      expect(error.name).toBe('WorkflowWorldError');
      expect(error.status).toBe(400);
    });
  }

  should('limit is clamped to 1000 rather than rejected', async ({ world }) => {
    const runId = await runningRun(world);
    const res = await world.events.list({ runId, pagination: { limit: 5000 } });
    expect(res.data.length).toBe(2);
    const runs = await world.runs.list({ pagination: { limit: 5000 } });
    expect(runs.data.length).toBeLessThanOrEqual(1000);
  });

  must('events.list without a limit, following cursors, returns a 250-event log completely', async ({ world }) => {
    const runId = await runningRun(world);
    const hookId = newHookId();
    await createHook(world, runId, hookId, `tok-${nonce()}`);
    for (let batch = 0; batch < 25; batch++) {
      await Promise.all(
        Array.from({ length: 10 }, () => send(world, runId, { eventType: 'hook_received', correlationId: hookId, eventData: { payload: payload(1) } })),
      );
    }
    const ids: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 1000; i++) {
      const p = await world.events.list({ runId, pagination: { sortOrder: 'asc', ...(cursor ? { cursor } : {}) } });
      ids.push(...p.data.map((e) => e.eventId));
      if (!p.hasMore) break;
      cursor = p.cursor!;
    }
    expect(ids.length).toBe(253);
    expect(new Set(ids).size).toBe(253);
  });
}
