import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { Sql, TransactionSql } from 'postgres';
import { SPEC_VERSION_CURRENT, SPEC_VERSION_LEGACY } from '@workflow/world';
import { WorldPgMigrationError } from '../errors.js';
import { log } from '../log.js';
import { quoteIdent } from './ident.js';
import { DEFINITION_FILES, MIGRATION_FILES, type DefinitionFile, type MigrationFile } from './sql-files.gen.js';

/**
 * The schema, in two kinds of SQL files (scripts/build-sql.mjs inlines both):
 * - versioned migrations (migrations/NNNN_name.{up,down}.sql) create tables, indexes and types;
 *   each is applied once, and an applied file that changed is refused;
 * - definitions (migrations/definitions/name.sql) hold the current text of every function, one
 *   home per function. Whenever their checksums differ from what the schema holds, the functions
 *   they created are dropped and every definition whose `requires` migration is applied is run
 *   again (Flyway's repeatable migrations).
 * Every run takes a transaction advisory lock keyed on the schema, so concurrent starters apply
 * each file exactly once, and does all of its work in that one transaction: a failure leaves the
 * schema as it was.
 */
export type { MigrationFile } from './sql-files.gen.js';

export interface MigrationState {
  version: number;
  name: string;
  applied: boolean;
  appliedAt?: Date;
  /** The file differs from what was applied (checksum mismatch). */
  changed: boolean;
}

export interface DefinitionState {
  name: string;
  /** The versioned migration the file needs; it is not applied below that version. */
  requiredVersion: number;
  /** Applied with its current text. */
  current: boolean;
}

interface Versioned extends MigrationFile {
  /** sha256 of the up file. */
  checksum: string;
}

interface Definition extends DefinitionFile {
  /** sha256 of the text with its spec-version placeholders rendered. */
  checksum: string;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The spec versions this World serves, written into the definitions (see common.sql). */
function renderConstants(text: string): string {
  return text
    .replace(/:SPEC_VERSION_LEGACY\b/g, String(SPEC_VERSION_LEGACY))
    .replace(/:SPEC_VERSION_CURRENT\b/g, String(SPEC_VERSION_CURRENT));
}

const MIGRATIONS: readonly Versioned[] = MIGRATION_FILES.map((f) => ({ ...f, checksum: sha256(f.up) }));
const DEFINITIONS: readonly Definition[] = [...DEFINITION_FILES]
  .sort((a, b) => a.requiredVersion - b.requiredVersion || a.name.localeCompare(b.name))
  .map((f) => ({ ...f, text: renderConstants(f.text), checksum: sha256(renderConstants(f.text)) }));

export const LATEST_VERSION = MIGRATIONS.length;

/** SQL text of a migration or definition for `schema`. */
function renderMigration(text: string, schema: string): string {
  const ident = quoteIdent(schema);
  return renderConstants(text).replace(/:WORLD_SCHEMA\b/g, () => ident);
}

async function lockAndPrepare(tx: TransactionSql, schema: string) {
  await tx`select pg_advisory_xact_lock(hashtextextended(${'workflow-world-postgres:' + schema}, 0))`;
  const ident = quoteIdent(schema);
  await tx.unsafe(`create schema if not exists ${ident}`);
  await tx.unsafe(
    `create table if not exists ${ident}.schema_migrations (
       version int primary key, name text not null, checksum text not null,
       applied_at timestamptz not null default now())`,
  );
  return readApplied(tx, schema);
}

async function readApplied(sql: Sql | TransactionSql, schema: string) {
  const rows = await sql.unsafe<{ version: number; name: string; checksum: string; applied_at: Date }[]>(
    `select version, name, checksum, applied_at from ${quoteIdent(schema)}.schema_migrations order by version`,
  );
  return new Map(rows.map((r) => [r.version, r]));
}

/** The definitions ledger: what each applied file created, and with which text. */
async function readDefinitions(sql: Sql | TransactionSql, schema: string) {
  const [table] = await sql<{ exists: boolean }[]>`
    select to_regclass(${quoteIdent(schema) + '.schema_definitions'}) is not null as exists`;
  if (!table?.exists) return new Map<string, { checksum: string; functions: string }>();
  const rows = await sql.unsafe<{ name: string; checksum: string; functions: string }[]>(
    `select name, checksum, functions from ${quoteIdent(schema)}.schema_definitions`,
  );
  return new Map(rows.map((r) => [r.name, r]));
}

function assertUnchanged(applied: Awaited<ReturnType<typeof readApplied>>, schema: string): void {
  for (const file of MIGRATIONS) {
    const row = applied.get(file.version);
    if (row && row.checksum !== file.checksum) {
      throw new WorldPgMigrationError(
        'MIGRATION_CHANGED',
        `migration ${label(file)} in schema "${schema}" was changed after it was applied; ` +
          'released migrations must never be edited (restore the file or add a new migration)',
      );
    }
  }
  const newest = newestOf(applied);
  if (newest > LATEST_VERSION) {
    throw new WorldPgMigrationError(
      'MIGRATION_FAILED',
      `schema "${schema}" is at migration ${newest}, newer than this package knows (${LATEST_VERSION}); upgrade workflow-world-postgres`,
    );
  }
}

const newestOf = (applied: Map<number, unknown>) => Math.max(0, ...applied.keys());
const wantedAt = (version: number) => DEFINITIONS.filter((d) => d.requiredVersion <= version);

/** The schema's functions, as `schema.name(arguments)` text that DROP FUNCTION accepts, by oid. */
async function functionsOf(tx: TransactionSql, schema: string): Promise<Map<string, string>> {
  const rows = await tx<{ oid: string; signature: string }[]>`
    select p.oid::int8::text as oid,
           format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) as signature
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname = ${schema} and p.prokind = 'f'`;
  return new Map(rows.map((r) => [r.oid, r.signature]));
}

/** Drops the functions that the ledger says definitions created (never an app's own functions). */
async function dropDefinitions(
  tx: TransactionSql,
  schema: string,
  ledger?: Awaited<ReturnType<typeof readDefinitions>>,
): Promise<void> {
  ledger ??= await readDefinitions(tx, schema);
  for (const { functions } of ledger.values()) {
    for (const signature of functions.split('\n').filter(Boolean)) await tx.unsafe(`drop function if exists ${signature}`);
  }
  if (ledger.size > 0) await tx.unsafe(`delete from ${quoteIdent(schema)}.schema_definitions`);
}

/**
 * Brings the functions in line with the definitions wanted at `version`: nothing when the ledger
 * matches them, else drop and re-create them all (a changed signature or a removed function
 * cannot be expressed by `create or replace`). Returns the names of the files applied.
 */
async function syncDefinitions(tx: TransactionSql, schema: string, version: number): Promise<string[]> {
  const wanted = wantedAt(version);
  const ident = quoteIdent(schema);
  if (wanted.length === 0) {
    // nothing of the World is left but the migrations ledger
    await dropDefinitions(tx, schema);
    await tx.unsafe(`drop table if exists ${ident}.schema_definitions`);
    return [];
  }
  const ledger = await readDefinitions(tx, schema);
  const current = ledger.size === wanted.length && wanted.every((d) => ledger.get(d.name)?.checksum === d.checksum);
  if (current) return [];
  await dropDefinitions(tx, schema, ledger);
  await tx.unsafe(
    `create table if not exists ${ident}.schema_definitions (
       name text primary key, checksum text not null,
       functions text not null,  -- one DROP FUNCTION signature per line
       applied_at timestamptz not null default now())`,
  );
  let known = await functionsOf(tx, schema);
  for (const file of wanted) {
    try {
      await tx.unsafe(renderMigration(file.text, schema));
    } catch (cause) {
      throw new WorldPgMigrationError(
        'MIGRATION_FAILED',
        `definitions/${file.name}.sql failed in schema "${schema}": ${(cause as Error).message}`,
        { cause },
      );
    }
    const after = await functionsOf(tx, schema);
    const created = [...after].filter(([oid]) => !known.has(oid)).map(([, s]) => s);
    known = after;
    await tx.unsafe(`insert into ${ident}.schema_definitions (name, checksum, functions) values ($1, $2, $3)`, [
      file.name,
      file.checksum,
      created.join('\n'),
    ]);
  }
  return wanted.map((d) => d.name);
}

/** Applies pending migrations up to `to` (default: all), then the definitions. Returns the migrations applied. */
export async function migrateUp(sql: Sql, schema: string, opts: { to?: number } = {}): Promise<MigrationFile[]> {
  const target = opts.to ?? LATEST_VERSION;
  const started = Date.now();
  const applied = await sql.begin(async (tx) => {
    const applied = await lockAndPrepare(tx, schema);
    assertUnchanged(applied, schema);
    const pending = MIGRATIONS.filter((m) => m.version <= target && !applied.has(m.version));
    for (const file of pending) {
      try {
        await tx.unsafe(renderMigration(file.up, schema));
      } catch (cause) {
        throw new WorldPgMigrationError(
          'MIGRATION_FAILED',
          `migration ${label(file)} failed in schema "${schema}": ${(cause as Error).message}`,
          { cause },
        );
      }
      await tx.unsafe(
        `insert into ${quoteIdent(schema)}.schema_migrations (version, name, checksum) values ($1, $2, $3)`,
        [file.version, file.name, file.checksum],
      );
      applied.set(file.version, { version: file.version, name: file.name, checksum: file.checksum, applied_at: new Date() });
    }
    const definitions = await syncDefinitions(tx, schema, newestOf(applied));
    return { files: pending.map(publicFile), definitions };
  });
  logApplied('applied', schema, applied.files, applied.definitions, started);
  return applied.files;
}

/** Says what a migration run changed, by whom and how long it took; nothing when it changed nothing. */
function logApplied(verb: string, schema: string, files: MigrationFile[], definitions: string[], started: number): void {
  if (files.length === 0 && definitions.length === 0) return;
  log.info(`migrations ${verb}`, {
    schema,
    versions: files.map(label).join(',') || undefined,
    definitions: definitions.join(',') || undefined,
    host: hostname(),
    pid: process.pid,
    ms: Date.now() - started,
  });
}

/**
 * Reverts applied migrations newer than `to` (default: only the latest), newest first, and
 * leaves the definitions that version needs. Returns the migrations reverted.
 */
export async function migrateDown(sql: Sql, schema: string, opts: { to?: number } = {}): Promise<MigrationFile[]> {
  const started = Date.now();
  const reverted = await sql.begin(async (tx) => {
    const applied = await lockAndPrepare(tx, schema);
    assertUnchanged(applied, schema);
    const target = opts.to ?? Math.max(0, newestOf(applied) - 1);
    const reverting = MIGRATIONS.filter((m) => m.version > target && applied.has(m.version)).reverse();
    if (reverting.length === 0) return { files: [] as MigrationFile[], definitions: [] as string[] };
    await dropDefinitions(tx, schema); // they may use what the down files drop
    for (const file of reverting) {
      await tx.unsafe(renderMigration(file.down, schema));
      await tx.unsafe(`delete from ${quoteIdent(schema)}.schema_migrations where version = $1`, [file.version]);
      applied.delete(file.version);
    }
    const definitions = await syncDefinitions(tx, schema, newestOf(applied));
    return { files: reverting.map(publicFile), definitions };
  });
  logApplied('reverted', schema, reverted.files, reverted.definitions, started);
  return reverted.files;
}

/** Every known migration and whether it is applied; reads only, takes no lock. */
export async function migrationStatus(sql: Sql, schema: string): Promise<MigrationState[]> {
  const [row] = await sql<{ exists: boolean }[]>`
    select to_regclass(${quoteIdent(schema) + '.schema_migrations'}) is not null as exists`;
  const applied = row?.exists ? await readApplied(sql, schema) : new Map();
  return MIGRATIONS.map((file) => {
    const row = applied.get(file.version);
    return {
      version: file.version,
      name: file.name,
      applied: row !== undefined,
      appliedAt: row?.applied_at,
      changed: row !== undefined && row.checksum !== file.checksum,
    };
  });
}

/** Every definition file and whether the schema holds its current text; reads only. */
export async function definitionStatus(sql: Sql, schema: string): Promise<DefinitionState[]> {
  const ledger = await readDefinitions(sql, schema);
  return DEFINITIONS.map((d) => ({
    name: d.name,
    requiredVersion: d.requiredVersion,
    current: ledger.get(d.name)?.checksum === d.checksum,
  }));
}

/** For `migrate: 'verify'`: throws unless every migration and definition is applied unchanged. */
export async function verifyMigrations(sql: Sql, schema: string): Promise<void> {
  const states = await migrationStatus(sql, schema);
  const changed = states.filter((s) => s.changed);
  if (changed.length) {
    throw new WorldPgMigrationError(
      'MIGRATION_CHANGED',
      `schema "${schema}": applied migrations differ from this package's files: ${changed.map(label).join(', ')}`,
    );
  }
  const pending = [
    ...states.filter((s) => !s.applied).map(label),
    ...(await definitionStatus(sql, schema)).filter((d) => !d.current).map((d) => `definitions/${d.name}`),
  ];
  if (pending.length) {
    throw new WorldPgMigrationError(
      'MIGRATION_PENDING',
      `schema "${schema}" has ${pending.length} pending migration(s) (${pending.join(', ')}) and migrate is 'verify'; ` +
        'run `npx workflow-world-postgres migrate up` or set WORKFLOW_POSTGRES_MIGRATE=auto',
    );
  }
}

const publicFile = ({ version, name, up, down }: Versioned): MigrationFile => ({ version, name, up, down });
const label = (s: { version: number; name: string }) => `${String(s.version).padStart(4, '0')}_${s.name}`;
