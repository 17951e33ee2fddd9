import postgres, { type Sql } from 'postgres';
import { resolveConfig } from '../config.js';
import { connectionOptions } from '../db/client.js';
import { quoteIdent } from '../db/ident.js';

/**
 * The connection every CLI command uses: `--url` / `--schema` over the World's environment
 * variables and defaults, one connection, ended when the command returns. Returns exit code 2
 * (usage) when no database is configured.
 */
export async function withConnection(
  flags: { url?: string; schema?: string },
  command: (sql: Sql, schema: string) => Promise<number>,
): Promise<number> {
  const config = resolveConfig({ connectionString: flags.url, schema: flags.schema, migrate: 'off' });
  if (!config.connectionString) {
    console.error('no database: pass --url or set WORKFLOW_POSTGRES_URL (or DATABASE_URL)');
    return 2;
  }
  const sql = postgres(config.connectionString, connectionOptions(config, 1));
  try {
    return await command(sql, config.schema);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/**
 * Whether `schema` holds this package's tables; says so, with the fix, when it does not (instead
 * of the driver's `relation … does not exist`). Never creates anything.
 */
export async function requireMigrated(sql: Sql, schema: string): Promise<boolean> {
  const [row] = await sql<{ migrated: boolean }[]>`
    select to_regclass(${quoteIdent(schema) + '.messages'}) is not null as migrated`;
  if (row?.migrated) return true;
  console.error(`schema "${schema}" does not exist or is not migrated: run \`workflow-world-postgres migrate up\` (or start a World on it)`);
  return false;
}
