import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type Compilable,
} from 'kysely';
import type { Sql } from 'postgres';

/**
 * Kysely compiles composed queries (optional filters, keyset pagination, either sort order);
 * postgres.js executes them, so the package has one pool and one transaction API.
 * Table interfaces mirror migrations/.
 */
export interface Database {
  runs: {
    run_id: string;
    status: string;
    workflow_name: string;
    input_event: string | null;
    result_event: string | null;
  };
  events: {
    id: string;
    run_id: string;
    event_id: string;
    event_type: string;
    correlation_id: string | null;
    data: Uint8Array | null;
    spec_version: number | null;
    created_at: Date;
  };
  steps: { run_id: string; step_id: string; status: string; input_event: string; result_event: string | null };
  hooks: { run_id: string; hook_id: string; input_event: string };
}

export const qb = new Kysely<Database>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

export async function run<R>(sql: Sql, query: Compilable<unknown>): Promise<R[]> {
  const { sql: text, parameters } = query.compile();
  return (await sql.unsafe(text, parameters as never[], { prepare: true })) as unknown as R[];
}
