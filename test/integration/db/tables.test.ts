import { describe, expect, test } from 'vitest';
import { migrateUp } from '../../../src/db/migrate.js';
import { TABLES } from '../../../src/db/tables.js';
import { adminSql, freshSchema } from '../../helpers/db.js';

describe('table types', () => {
  test('src/db/tables.ts names every table and column of a migrated schema, with its type and nullability', async () => {
    const schema = freshSchema('tables');
    await migrateUp(adminSql(), schema);
    const rows = await adminSql()<{ table_name: string; column_name: string; udt_name: string; is_nullable: string }[]>`
      select table_name, column_name, udt_name, is_nullable from information_schema.columns
       where table_schema = ${schema}`;
    const catalog: Record<string, Record<string, string>> = {};
    for (const r of rows) {
      (catalog[r.table_name] ??= {})[r.column_name] = `${r.udt_name}${r.is_nullable === 'YES' ? ' null' : ''}`;
    }
    expect(Object.keys(catalog).length).toBeGreaterThanOrEqual(12);
    expect(catalog).toEqual(TABLES);
  });
});
