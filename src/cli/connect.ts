import postgres, { type Sql } from 'postgres';
import { resolveConfig } from '../config.js';
import { connectionOptions } from '../db/client.js';

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
