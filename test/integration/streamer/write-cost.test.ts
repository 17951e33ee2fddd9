import { describe, expect, test } from 'vitest';
import { adminSql, freshSchema, testWorld } from '../../helpers/db.js';
import { newStream } from './helpers.js';

/** What keeps an append cheap in the database (migrations/0003_streams.up.sql). */
describe('streamer: append cost', () => {
  test('no index of streams covers a column an append updates, so its updates can be HOT', async () => {
    const schema = freshSchema();
    const world = testWorld({ schema });
    const { name, runId } = newStream();
    await world.writeToStream(name, runId, 'a'); // migrates the schema
    // every column an index reads, from its key, its expressions or its predicate
    const rows = await adminSql()<{ index: string; column: string }[]>`
      select i.indexrelid::regclass::text as index, a.attname as column
        from pg_index i
        join pg_attribute a on a.attrelid = i.indrelid and a.attnum > 0
       where i.indrelid = ${`"${schema}".streams`}::regclass
         and (a.attnum = any (i.indkey)
              or pg_get_expr(i.indexprs, i.indrelid) ~ ('\\m' || a.attname || '\\M')
              or pg_get_expr(i.indpred, i.indrelid) ~ ('\\m' || a.attname || '\\M'))`;
    const updated = ['next_idx', 'closed_at', 'updated_at'];
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.filter((r) => updated.includes(r.column))).toEqual([]);
  });

  test('chunks are compressed with lz4 when the server has it', async () => {
    const schema = freshSchema();
    const world = testWorld({ schema });
    const { name, runId } = newStream();
    await world.writeToStream(name, runId, new Uint8Array(64 << 10).fill(0x62));
    const sql = adminSql();
    const hasLz4 = await sql
      .begin(async (tx) => {
        await tx.unsafe('create temporary table lz4_probe (b bytea compression lz4) on commit drop');
        return true;
      })
      .catch(() => false);
    const [row] = await sql.unsafe<{ method: string | null }[]>(
      `select pg_column_compression(data) as method from "${schema}".stream_chunks where stream_name = $1`,
      [name],
    );
    expect(row!.method).toBe(hasLz4 ? 'lz4' : 'pglz');
  });
});
