import postgres from 'postgres';
import { expect } from 'vitest';
import { createWorld, type PostgresWorld } from '../../src/index.js';
import { databaseUrl, freshSchema } from './db.js';

/**
 * Builds a World on a client that records every statement, lets `setup` prepare data and
 * `exercise` issue the reads under test, then EXPLAINs each recorded select with sequential
 * scans disabled: a Seq Scan in a plan means no index can serve that query. Returns the plans
 * that failed (expected empty) after checking at least `minSelects` statements were seen.
 */
export async function selectsWithoutIndex(
  setup: (world: PostgresWorld) => Promise<void>,
  exercise: (world: PostgresWorld) => Promise<void>,
  minSelects: number,
): Promise<string[]> {
  const captured: { query: string; params: unknown[] }[] = [];
  const sql = postgres(databaseUrl, {
    max: 1,
    onnotice: () => {},
    debug: (_connection, query, params) => captured.push({ query, params: params as unknown[] }),
  });
  const world = createWorld({ sql, schema: freshSchema('explain') });
  try {
    await setup(world);
    captured.length = 0;
    await exercise(world);
    const selects = captured.filter((c) => /^\s*select/i.test(c.query));
    expect(selects.length).toBeGreaterThanOrEqual(minSelects);
    const offenders: string[] = [];
    await sql.begin(async (tx) => {
      await tx`set local enable_seqscan = off`;
      for (const { query, params } of selects) {
        const rows = await tx.unsafe(`explain ${query}`, params as never[]);
        const plan = rows.map((r) => Object.values(r)[0]).join('\n');
        if (/Seq Scan/.test(plan)) offenders.push(`${query}\n${plan}`);
      }
    });
    return offenders;
  } finally {
    await world.close();
    await sql.end();
  }
}

/**
 * The plans of the statements that run inside SQL functions, which EXPLAIN of the calling
 * statement does not show: auto_explain logs every nested statement `exercise` causes, as a
 * notice, on a one-connection client with sequential scans disabled (so a Seq Scan again means
 * that no index can serve the statement). Needs a superuser (LOAD), as the test database has.
 */
export async function nestedPlans(
  setup: (world: PostgresWorld) => Promise<void>,
  exercise: (world: PostgresWorld) => Promise<void>,
): Promise<string[]> {
  const plans: string[] = [];
  let capture = false;
  const sql = postgres(databaseUrl, {
    max: 1,
    onnotice: (notice) => {
      const message = String(notice.message);
      if (capture && message.includes('plan:')) plans.push(message);
    },
  });
  const world = createWorld({ sql, schema: freshSchema('explain') });
  try {
    await setup(world);
    await sql`load 'auto_explain'`;
    const settings: Record<string, string> = {
      'auto_explain.log_min_duration': '0',
      'auto_explain.log_nested_statements': 'on',
      'auto_explain.log_level': 'notice',
      enable_seqscan: 'off',
    };
    for (const [name, value] of Object.entries(settings)) await sql`select set_config(${name}, ${value}, false)`;
    capture = true;
    await exercise(world);
    capture = false;
    return plans;
  } finally {
    await world.close();
    await sql.end();
  }
}
