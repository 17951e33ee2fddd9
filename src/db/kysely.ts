import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type Compilable,
} from 'kysely';
import type { Db } from './client.js';
import { query } from './statement.js';
import type { Database } from './tables.js';

/**
 * Kysely compiles composed queries (optional filters, keyset pagination, either sort order),
 * typed by tables.ts; postgres.js executes them, so the package has one pool and one
 * transaction API.
 */
export const qb = new Kysely<Database>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

/** Executes a compiled query on the World's pool, sent as statement.ts sends every statement. */
export function run<R>(db: Db, compilable: Compilable<unknown>): Promise<R[]> {
  const { sql: text, parameters } = compilable.compile();
  return query<R>(db, text, parameters);
}
