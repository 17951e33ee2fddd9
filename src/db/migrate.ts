import type { Sql, TransactionSql } from 'postgres';
import { quoteIdent } from '../config.js';
import { WorldPgMigrationError } from '../errors.js';
import { MIGRATIONS, type MigrationFile } from './migrations.gen.js';

/**
 * Versioned migrations from migrations/NNNN_name.{up,down}.sql. Every run takes a transaction
 * advisory lock keyed on the schema, so concurrent starters apply each file exactly once, and
 * does all of its work in that one transaction: a failure leaves the schema as it was.
 */
export interface MigrationState {
  version: number;
  name: string;
  applied: boolean;
  appliedAt?: Date;
  /** The file differs from what was applied (checksum mismatch). */
  changed: boolean;
}

export const LATEST_VERSION = MIGRATIONS.length;

export function renderMigration(text: string, schema: string): string {
  const ident = quoteIdent(schema);
  return text.replace(/:WORLD_SCHEMA\b/g, () => ident);
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

function assertUnchanged(applied: Awaited<ReturnType<typeof readApplied>>, schema: string): void {
  for (const file of MIGRATIONS) {
    const row = applied.get(file.version);
    if (row && row.checksum !== file.checksum) {
      throw new WorldPgMigrationError(
        'MIGRATION_CHANGED',
        `migration ${pad(file.version)}_${file.name} in schema "${schema}" was changed after it was applied; ` +
          'released migrations must never be edited (restore the file or add a new migration)',
      );
    }
  }
  const newest = Math.max(0, ...applied.keys());
  if (newest > LATEST_VERSION) {
    throw new WorldPgMigrationError(
      'MIGRATION_FAILED',
      `schema "${schema}" is at migration ${newest}, newer than this package knows (${LATEST_VERSION}); upgrade workflow-world-postgres`,
    );
  }
}

/** Applies pending migrations up to `to` (default: all). Returns the files applied. */
export async function migrateUp(sql: Sql, schema: string, opts: { to?: number } = {}): Promise<MigrationFile[]> {
  const target = opts.to ?? LATEST_VERSION;
  return sql.begin(async (tx) => {
    const applied = await lockAndPrepare(tx, schema);
    assertUnchanged(applied, schema);
    const pending = MIGRATIONS.filter((m) => m.version <= target && !applied.has(m.version));
    for (const file of pending) {
      try {
        await tx.unsafe(renderMigration(file.up, schema));
      } catch (cause) {
        throw new WorldPgMigrationError(
          'MIGRATION_FAILED',
          `migration ${pad(file.version)}_${file.name} failed in schema "${schema}": ${(cause as Error).message}`,
          { cause },
        );
      }
      await tx.unsafe(
        `insert into ${quoteIdent(schema)}.schema_migrations (version, name, checksum) values ($1, $2, $3)`,
        [file.version, file.name, file.checksum],
      );
    }
    return pending;
  }) as Promise<MigrationFile[]>;
}

/** Reverts applied migrations newer than `to` (default: only the latest), newest first. */
export async function migrateDown(sql: Sql, schema: string, opts: { to?: number } = {}): Promise<MigrationFile[]> {
  return sql.begin(async (tx) => {
    const applied = await lockAndPrepare(tx, schema);
    assertUnchanged(applied, schema);
    const newest = Math.max(0, ...applied.keys());
    const target = opts.to ?? Math.max(0, newest - 1);
    const reverting = MIGRATIONS.filter((m) => m.version > target && applied.has(m.version)).reverse();
    for (const file of reverting) {
      await tx.unsafe(renderMigration(file.down, schema));
      await tx.unsafe(`delete from ${quoteIdent(schema)}.schema_migrations where version = $1`, [file.version]);
    }
    return reverting;
  }) as Promise<MigrationFile[]>;
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

/** For `migrate: 'verify'`: throws unless every migration is applied unchanged. */
export async function verifyMigrations(sql: Sql, schema: string): Promise<void> {
  const states = await migrationStatus(sql, schema);
  const changed = states.filter((s) => s.changed);
  if (changed.length) {
    throw new WorldPgMigrationError(
      'MIGRATION_CHANGED',
      `schema "${schema}": applied migrations differ from this package's files: ${changed.map(label).join(', ')}`,
    );
  }
  const pending = states.filter((s) => !s.applied);
  if (pending.length) {
    throw new WorldPgMigrationError(
      'MIGRATION_PENDING',
      `schema "${schema}" has ${pending.length} pending migration(s) (${pending.map(label).join(', ')}) and migrate is 'verify'; ` +
        'run `npx workflow-world-postgres migrate up` or set WORKFLOW_POSTGRES_MIGRATE=auto',
    );
  }
}

const pad = (v: number) => String(v).padStart(4, '0');
const label = (s: { version: number; name: string }) => `${pad(s.version)}_${s.name}`;
