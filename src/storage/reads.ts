import type {
  Event,
  GetEventParams,
  Hook,
  ListEventsByCorrelationIdParams,
  ListEventsParams,
  ListHooksParams,
  ListWorkflowRunStepsParams,
  ListWorkflowRunsParams,
  PaginatedResponse,
  ResolveData,
  Step,
  WorkflowRun,
} from '@workflow/world';
import { stripEventDataRefs } from '@workflow/world';
import { sql as rawSql } from 'kysely';
import { z } from 'zod';
import type { Db } from '../db/client.js';
import { qb, run } from '../db/kysely.js';
import { withRetry } from '../db/transient-retry.js';
import { worldErrors } from '../errors.js';
import { keysetOf, toPage } from '../shared/pagination.js';
import { toEvent, toHook, toRun, toStep, type EntityRow, type EventRow } from './entities.js';
import { eventPage } from './event-page.js';
import { ReadSchemas, validate } from './params.js';

/**
 * The read side of storage: get and list for runs, steps, hooks and events, with keyset
 * pagination. Runs, steps and hooks page by the id of the event that created them (creation
 * order), events by their own id (commit order within a run).
 */
const DEFAULT_LIMIT = { runs: 20, steps: 20, hooks: 100, events: 1000 } as const;

type WithData = { entity: unknown; input_data: Uint8Array | null; result_data: Uint8Array | null; error_data?: Uint8Array | null };

export function createReads(getDb: () => Promise<Db>) {
  const rd = (p?: { resolveData?: ResolveData }): ResolveData => p?.resolveData ?? 'all';

  async function listRuns(params: ListWorkflowRunsParams = {}): Promise<PaginatedResponse<WorkflowRun>> {
    const db = await getDb();
    const { limit, after, order, past } = keysetOf(params.pagination, 'r', DEFAULT_LIMIT.runs, 'desc');
    const resolve = rd(params);
    let q = qb
      .withSchema(db.schema)
      .selectFrom('runs as r')
      .leftJoin('events as ei', (j) =>
        resolve === 'all' ? j.onRef('ei.id', '=', 'r.input_event') : j.on(rawSql<boolean>`false`),
      )
      .leftJoin('events as er', (j) =>
        j.onRef('er.id', '=', 'r.result_event').on(
          'r.status',
          'in',
          resolve === 'all' ? ['completed', 'failed'] : ['failed'],
        ),
      )
      .select([rawSql`to_jsonb(r)`.as('entity'), 'ei.data as input_data', 'er.data as result_data', 'r.input_event'])
      .orderBy('r.input_event', order)
      .limit(limit + 1);
    if (params.workflowName) q = q.where('r.workflow_name', '=', params.workflowName);
    if (params.status) q = q.where('r.status', '=', params.status);
    if (after) q = q.where('r.input_event', past, after);
    const rows = await run<WithData & { input_event: string }>(db, q);
    return toPage(rows, limit, 'r', (r) => r.input_event, (r) => toRun(r as EntityRow, resolve));
  }

  async function getRun(id: string, params?: { resolveData?: ResolveData }): Promise<WorkflowRun> {
    const db = await getDb();
    const [row] = await db.sql<WithData[]>`
      select to_jsonb(r) as entity, ei.data as input_data, er.data as result_data
        from ${db.sql(db.schema)}.runs r
        left join ${db.sql(db.schema)}.events ei on ei.id = r.input_event
        left join ${db.sql(db.schema)}.events er on er.id = r.result_event
       where r.run_id = ${id}`;
    if (!row) throw worldErrors.runNotFound(id);
    return toRun(row as EntityRow, rd(params));
  }

  async function getStep(runId: string | undefined, stepId: string, params?: { resolveData?: ResolveData }): Promise<Step> {
    const db = await getDb();
    const s = db.sql(db.schema);
    const [row] = await db.sql<WithData[]>`
      select to_jsonb(st) as entity, ei.data as input_data, er.data as result_data, ee.data as error_data
        from ${s}.steps st
        left join ${s}.events ei on ei.id = st.input_event
        left join ${s}.events er on er.id = st.result_event
        left join ${s}.events ee on ee.id = st.error_event
       where st.step_id = ${stepId} ${runId === undefined ? db.sql`` : db.sql`and st.run_id = ${runId}`}
       limit 1`;
    if (!row) throw worldErrors.notFound(`step ${stepId} not found${runId ? ` in run ${runId}` : ''}`);
    return toStep(row as EntityRow, rd(params));
  }

  async function listSteps(params: ListWorkflowRunStepsParams): Promise<PaginatedResponse<Step>> {
    const db = await getDb();
    const { limit, after, order, past } = keysetOf(params.pagination, 's', DEFAULT_LIMIT.steps, 'desc');
    const resolve = rd(params);
    let q = qb
      .withSchema(db.schema)
      .selectFrom('steps as st')
      .leftJoin('events as ei', (j) =>
        resolve === 'all' ? j.onRef('ei.id', '=', 'st.input_event') : j.on(rawSql<boolean>`false`),
      )
      .leftJoin('events as er', (j) =>
        resolve === 'all' ? j.onRef('er.id', '=', 'st.result_event') : j.on(rawSql<boolean>`false`),
      )
      .leftJoin('events as ee', 'ee.id', 'st.error_event')
      .select([
        rawSql`to_jsonb(st)`.as('entity'),
        'ei.data as input_data',
        'er.data as result_data',
        'ee.data as error_data',
        'st.input_event',
      ])
      .where('st.run_id', '=', params.runId)
      .orderBy('st.input_event', order)
      .limit(limit + 1);
    if (after) q = q.where('st.input_event', past, after);
    const rows = await run<WithData & { input_event: string }>(db, q);
    return toPage(rows, limit, 's', (r) => r.input_event, (r) => toStep(r as EntityRow, resolve));
  }

  async function hookBy(where: 'id' | 'token', value: string, params?: { resolveData?: ResolveData }): Promise<Hook> {
    const db = await getDb();
    const s = db.sql(db.schema);
    const [row] = await db.sql<WithData[]>`
      select to_jsonb(h) - 'token_digest' as entity, ei.data as input_data, null::bytea as result_data
        from ${s}.hooks h
        left join ${s}.events ei on ei.id = h.input_event
       where ${where === 'id' ? db.sql`h.hook_id = ${value}` : db.sql`h.token_digest = sha256(convert_to(${value}::text, 'UTF8'))`}
       limit 1`;
    if (!row) throw worldErrors.hookNotFound(value);
    return toHook(row as EntityRow, rd(params));
  }

  async function listHooks(params: ListHooksParams): Promise<PaginatedResponse<Hook>> {
    const db = await getDb();
    const { limit, after, order, past } = keysetOf(params.pagination, 'h', DEFAULT_LIMIT.hooks, 'asc');
    const resolve = rd(params);
    let q = qb
      .withSchema(db.schema)
      .selectFrom('hooks as h')
      .leftJoin('events as ei', (j) =>
        resolve === 'all' ? j.onRef('ei.id', '=', 'h.input_event') : j.on(rawSql<boolean>`false`),
      )
      .select([
        rawSql`to_jsonb(h) - 'token_digest'`.as('entity'),
        'ei.data as input_data',
        rawSql`null::bytea`.as('result_data'),
        'h.input_event',
      ])
      .orderBy('h.input_event', order)
      .limit(limit + 1);
    if (params.runId) q = q.where('h.run_id', '=', params.runId);
    if (after) q = q.where('h.input_event', past, after);
    const rows = await run<WithData & { input_event: string }>(db, q);
    return toPage(rows, limit, 'h', (r) => r.input_event, (r) => toHook(r as EntityRow, resolve));
  }

  async function listEventRows(
    filter: { runId?: string; correlationId?: string },
    pagination: ListEventsParams['pagination'],
  ): Promise<{ rows: EventRow[]; limit: number }> {
    const db = await getDb();
    const { limit, after, order, past } = keysetOf(pagination, 'e', DEFAULT_LIMIT.events, 'asc');
    let q = qb
      .withSchema(db.schema)
      .selectFrom('events')
      .selectAll()
      .orderBy('id', order)
      .limit(limit + 1);
    if (filter.runId) q = q.where('run_id', '=', filter.runId);
    if (filter.correlationId !== undefined) q = q.where('correlation_id', '=', filter.correlationId);
    if (after) q = q.where('id', past, after);
    return { rows: await run<EventRow>(db, q), limit };
  }

  async function getEvent(runId: string, eventId: string, params?: GetEventParams): Promise<Event> {
    const db = await getDb();
    const [row] = await db.sql<EventRow[]>`
      select * from ${db.sql(db.schema)}.events where event_id = ${eventId} and run_id = ${runId}`;
    if (!row) throw worldErrors.notFound(`event ${eventId} not found in run ${runId}`);
    return stripEventDataRefs(toEvent(row), rd(params));
  }

  // Reads are idempotent: transient failures are retried, then surface as 503.
  const read =
    <A extends unknown[], R>(what: string, schemas: z.ZodType[], fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      schemas.forEach((schema, i) => validate(schema, args[i], what));
      return withRetry(() => fn(...args), { what });
    };
  const { id, get } = ReadSchemas;

  return {
    runs: { get: read('runs.get', [id, get], getRun), list: read('runs.list', [ReadSchemas.listRuns], listRuns) },
    steps: { get: read('steps.get', [id.optional(), id, get], getStep), list: read('steps.list', [ReadSchemas.listSteps], listSteps) },
    hooks: {
      get: read('hooks.get', [id, get], (hookId: string, params?: { resolveData?: ResolveData }) => hookBy('id', hookId, params)),
      getByToken: read('hooks.getByToken', [z.string().min(1), get], (token: string, params?: { resolveData?: ResolveData }) =>
        hookBy('token', token, params),
      ),
      list: read('hooks.list', [ReadSchemas.listHooks], listHooks),
    },
    events: {
      get: read('events.get', [id, id, get], getEvent),
      list: read('events.list', [ReadSchemas.listEvents], async (params: ListEventsParams): Promise<PaginatedResponse<Event>> => {
        const { rows, limit } = await listEventRows({ runId: params.runId }, params.pagination);
        return eventPage(rows, limit, rd(params));
      }),
      listByCorrelationId: read(
        'events.listByCorrelationId',
        [ReadSchemas.listByCorrelationId],
        async (params: ListEventsByCorrelationIdParams): Promise<PaginatedResponse<Event>> => {
          const { rows, limit } = await listEventRows(
            { correlationId: params.correlationId, runId: params.runId },
            params.pagination,
          );
          return eventPage(rows, limit, rd(params));
        },
      ),
    },
  };
}
