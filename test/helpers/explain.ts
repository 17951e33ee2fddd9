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
