import type { TransactionSql } from 'postgres';
import type { Db } from './client.js';
import { withinDeadline } from './deadline.js';

/**
 * How the package sends a statement: on the World's pool, prepared unless the configuration says
 * otherwise (`prepare: false` behind a transaction pooler), with an optional client-side
 * deadline (deadline.ts). Every fixed statement goes through here; composed queries go through
 * kysely.ts's `run`, which sends them the same way.
 */
export interface StatementOptions {
  /** Cancel the statement and fail with QUERY_DEADLINE when it has not answered in `ms`. */
  deadline?: { ms: number; what: string };
  /** Run in this transaction of the World's pool instead of on the pool itself. */
  tx?: TransactionSql;
}

export function query<R>(db: Db, text: string, params: readonly unknown[] = [], opts: StatementOptions = {}): Promise<R[]> {
  const pending = (opts.tx ?? db.sql).unsafe<R[]>(text, params as never[], { prepare: db.config.prepare });
  return (opts.deadline ? withinDeadline(pending, opts.deadline.ms, opts.deadline.what) : pending) as Promise<R[]>;
}

/**
 * `select * from <schema>.<fn>(p_a => $1, p_b => $2, …)`: a function of the schema called with
 * named arguments, in the order `args` lists them, so each value is matched to its parameter by
 * name, never by position.
 */
export function callFunction<R>(
  db: Db,
  fn: string,
  args: Readonly<Record<string, unknown>>,
  opts: StatementOptions = {},
): Promise<R[]> {
  const names = Object.keys(args);
  const list = names.map((name, i) => `${name} => $${i + 1}`).join(', ');
  return query<R>(db, `select * from ${db.ident}.${fn}(${list})`, Object.values(args), opts);
}
