import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { definitionStatus, LATEST_VERSION, migrateDown, migrateUp, migrationStatus, verifyMigrations } from '../../../src/db/migrate.js';
import { adminSql, databaseUrl, freshSchema, testWorld } from '../../helpers/db.js';
import { createRun, rejection } from '../../helpers/runs.js';

const run = promisify(execFile);

/** Everything in a schema that a migration can create, as comparable text. */
async function catalog(schema: string): Promise<string[]> {
  const sql = adminSql();
  const rows = await sql<{ item: string }[]>`
    select 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') as item
      from information_schema.columns where table_schema = ${schema}
    union all
    select 'index ' || replace(indexdef, ${schema}, '<s>') from pg_indexes where schemaname = ${schema}
    union all
    select 'constraint ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(c.oid)
      from pg_constraint c join pg_namespace n on n.oid = c.connamespace where n.nspname = ${schema}
    union all
    select 'function ' || replace(pg_get_functiondef(p.oid), ${schema}, '<s>')
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = ${schema}
    union all
    select 'compression ' || c.relname || '.' || a.attname || ' ' || a.attcompression::text
      from pg_class c join pg_namespace n on n.oid = c.relnamespace join pg_attribute a on a.attrelid = c.oid
     where n.nspname = ${schema} and a.attnum > 0 and a.attcompression <> ''::"char"
    union all
    select 'type ' || c.relname || ' ' || string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' order by a.attnum)
      from pg_class c join pg_namespace n on n.oid = c.relnamespace join pg_attribute a on a.attrelid = c.oid
     where n.nspname = ${schema} and c.relkind = 'c' and a.attnum > 0 group by c.relname
    order by 1`;
  return rows.map((r) => r.item.replaceAll(schema, '<s>'));
}

describe('migrations', () => {
  test('up → down → up leaves an identical schema', async () => {
    const schema = freshSchema('mig');
    const sql = adminSql();
    const applied = await migrateUp(sql, schema);
    expect(applied.map((m) => m.version)).toEqual(Array.from({ length: LATEST_VERSION }, (_, i) => i + 1));
    const first = await catalog(schema);
    expect(first.some((i) => i.startsWith('index') && i.includes('hooks_token_idx') && i.includes('UNIQUE'))).toBe(true);
    const reverted = await migrateDown(sql, schema, { to: 0 });
    expect(reverted.map((m) => m.version)).toEqual(applied.map((m) => m.version).reverse());
    expect((await catalog(schema)).every((i) => i.includes('schema_migrations'))).toBe(true);
    await migrateUp(sql, schema);
    expect(await catalog(schema)).toEqual(first);
    expect((await migrationStatus(sql, schema)).every((s) => s.applied && !s.changed)).toBe(true);
  });

  test('each down file restores exactly the schema its up file started from', async () => {
    const schema = freshSchema('mig');
    const sql = adminSql();
    const objects = async () => (await catalog(schema)).filter((i) => !i.includes('schema_migrations'));
    for (let version = 1; version <= LATEST_VERSION; version++) {
      const before = await objects();
      await migrateUp(sql, schema, { to: version });
      await migrateDown(sql, schema, { to: version - 1 });
      expect(await objects(), `down of migration ${version}`).toEqual(before);
      await migrateUp(sql, schema, { to: version });
    }
  });

  test('a fresh install and the upgrade path through every version produce the same catalog, function bodies included', async () => {
    const sql = adminSql();
    const fresh = freshSchema('mig');
    await migrateUp(sql, fresh);
    const upgraded = freshSchema('mig');
    for (let version = 1; version <= LATEST_VERSION; version++) await migrateUp(sql, upgraded, { to: version });
    const expected = await catalog(fresh);
    expect(expected.filter((i) => i.startsWith('function')).length).toBeGreaterThan(20);
    expect(await catalog(upgraded)).toEqual(expected);
    expect((await definitionStatus(sql, upgraded)).every((d) => d.current)).toBe(true);
  });

  test('changed definitions are re-applied by the next migrate up, and only the functions they created are dropped', async () => {
    const sql = adminSql();
    const schema = freshSchema('mig');
    await migrateUp(sql, schema);
    const expected = await catalog(schema);
    const ident = `"${schema}"`;
    // an app's own function in the same schema, and a definition that is stale (as after an upgrade of the package)
    await sql.unsafe(`create function ${ident}.app_owned() returns int language sql as 'select 1'`);
    await sql.unsafe(`drop function ${ident}.claim_messages(int, bigint, text[], text)`);
    await sql.unsafe(`update ${ident}.schema_definitions set checksum = 'older' where name = 'queue'`);
    expect((await definitionStatus(sql, schema)).find((d) => d.name === 'queue')?.current).toBe(false);
    const stale = await rejection(verifyMigrations(sql, schema));
    expect(stale).toMatchObject({ name: 'WorldPgMigrationError', code: 'MIGRATION_PENDING' });
    expect(stale.message).toContain('definitions/queue');
    expect(await migrateUp(sql, schema)).toEqual([]); // no versioned migration was pending
    const after = await catalog(schema);
    expect(after.filter((i) => !i.includes('app_owned'))).toEqual(expected);
    expect(after.some((i) => i.includes('app_owned'))).toBe(true);
    await verifyMigrations(sql, schema);
  });

  test('concurrent migrators apply each migration exactly once', async () => {
    const schema = freshSchema('mig');
    const results = await Promise.all(Array.from({ length: 5 }, () => migrateUp(adminSql(), schema)));
    expect(results.flat().map((m) => m.version).sort()).toEqual(Array.from({ length: LATEST_VERSION }, (_, i) => i + 1));
    const rows = await adminSql().unsafe(`select count(*)::int as n from "${schema}".schema_migrations`);
    expect(rows[0]?.n).toBe(LATEST_VERSION);
  });

  test('a changed applied migration is refused, by the runner and by a World', async () => {
    const schema = freshSchema('mig');
    await migrateUp(adminSql(), schema);
    await adminSql().unsafe(`update "${schema}".schema_migrations set checksum = 'edited' where version = 1`);
    const error = await rejection(migrateUp(adminSql(), schema));
    expect(error).toMatchObject({ name: 'WorldPgMigrationError', code: 'MIGRATION_CHANGED' });
    const world = testWorld({ schema });
    expect(await rejection(world.runs.list())).toMatchObject({ code: 'MIGRATION_CHANGED' });
    expect((await migrationStatus(adminSql(), schema))[0]?.changed).toBe(true);
  });

  test('a migration that fails applies nothing (MIGRATION_FAILED), and a schema newer than the package is refused', async () => {
    const sql = adminSql();
    const schema = freshSchema('mig');
    await sql.unsafe(`create schema "${schema}"; create table "${schema}".streams (taken int)`); // 0003 cannot create it
    const failed = await rejection(migrateUp(sql, schema));
    expect(failed).toMatchObject({ name: 'WorldPgMigrationError', code: 'MIGRATION_FAILED', status: 500 });
    expect(failed.message).toContain('0003_streams');
    // one transaction: 0001 and 0002 were rolled back with it
    expect((await migrationStatus(sql, schema)).map((m) => m.applied)).toEqual(Array(LATEST_VERSION).fill(false));
    const [runs] = await sql`select to_regclass(${`"${schema}".runs`}) as t`;
    expect(runs?.t).toBeNull();

    const newer = freshSchema('mig');
    await migrateUp(sql, newer);
    await sql.unsafe(`insert into "${newer}".schema_migrations (version, name, checksum) values (99, 'from_the_future', 'x')`);
    const refused = await rejection(migrateUp(sql, newer));
    expect(refused).toMatchObject({ code: 'MIGRATION_FAILED' });
    expect(refused.message).toContain('newer than this package knows');
  });

  test('two schemas in one database stay isolated, whatever their names', async () => {
    const a = testWorld({ schema: freshSchema('Mixed Case "quoted"') });
    const b = testWorld({ schema: freshSchema('iso') });
    const runId = await createRun(a);
    expect((await a.runs.get(runId)).runId).toBe(runId);
    expect((await rejection(b.runs.get(runId))).name).toBe('WorkflowRunNotFoundError');
    expect((await b.runs.list()).data).toEqual([]);
  });

  test("migrate 'verify' refuses a database with pending migrations and names the fix", async () => {
    const schema = freshSchema('mig');
    const world = testWorld({ schema, migrate: 'verify' });
    const error = await rejection(world.runs.list());
    expect(error).toMatchObject({ name: 'WorldPgMigrationError', code: 'MIGRATION_PENDING' });
    expect(error.message).toContain('migrate up');
    await migrateUp(adminSql(), schema);
    expect((await world.runs.list()).data).toEqual([]); // the failure was not cached
  });

  test("migrate 'off' leaves the schema alone", async () => {
    const schema = freshSchema('mig');
    const world = testWorld({ schema, migrate: 'off' });
    await rejection(world.runs.list());
    const [row] = await adminSql()`select count(*)::int as n from information_schema.schemata where schema_name = ${schema}`;
    expect(row?.n).toBe(0);
  });

  // dist/ is built by `npm test` (pretest) before vitest runs
  test('the CLI migrates up, reports status and migrates down', async () => {
    const schema = freshSchema('cli');
    const cli = (...args: string[]) => run(process.execPath, ['dist/cli.cjs', 'migrate', ...args, '--url', databaseUrl, '--schema', schema]);
    const before = await cli('status');
    expect(before.stdout).toContain('0001_storage  pending');
    const up = await cli('up');
    expect(up.stdout).toContain('applied 0001_storage');
    expect((await cli('status')).stdout).toMatch(/0001_storage {2}applied/);
    expect((await cli('up')).stdout).toContain('nothing to do');
    const down = await cli('down', '--to', '0');
    expect(down.stdout).toContain('reverted 0001_storage');
    const usage = await rejection(run(process.execPath, ['dist/cli.cjs', 'migrate', 'sideways']));
    expect((usage as unknown as { code: number }).code).toBe(2);
  });
});
