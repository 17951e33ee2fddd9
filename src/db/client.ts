import postgres, { type Sql } from 'postgres';
import { requireConnection, type WorldConfig } from '../config.js';
import { quoteIdent } from './ident.js';
import { migrateUp, verifyMigrations } from './migrate.js';

/**
 * Connection pools, shared per process. The runtime builds several World instances in one process
 * (docs/world-contract.md §1.3); instances with the same settings share one pool by reference
 * count, so a process holds one query pool however many instances it builds.
 */
export interface Db {
  /** The query pool (or the app's own postgres.js instance). */
  sql: Sql;
  /** The configured schema name, raw. */
  schema: string;
  /** The schema name quoted as an identifier, for statement text. */
  ident: string;
  config: WorldConfig;
}

interface SharedPool {
  sql: Sql;
  refs: number;
}

const pools = new Map<string, SharedPool>();
/** Schemas migrated (or verified) by this process: migrations run once per process. */
const ready = new Map<string, Promise<void>>();

function poolKey(config: WorldConfig, url: string): string {
  return JSON.stringify([url, config.poolSize, config.applicationName, config.statementTimeoutMs, config.prepare, config.connectTimeoutMs]);
}

export function connectionOptions(config: WorldConfig, max: number): postgres.Options<{}> {
  return {
    max,
    prepare: config.prepare,
    // No array-type lookup on each new connection: postgres.js 3.4.9 runs it unawaited, so a
    // connection terminated during it surfaced as an unhandled rejection (seen in the
    // terminate-every-connection test). Array parameters go as literals instead (arrays.ts).
    fetch_types: false,
    idle_timeout: 30,
    connect_timeout: Math.max(1, Math.ceil(config.connectTimeoutMs / 1000)), // postgres.js takes seconds
    onnotice: () => {},
    connection: {
      application_name: config.applicationName,
      ...(config.statementTimeoutMs > 0 ? { statement_timeout: config.statementTimeoutMs } : {}),
    },
  };
}

/**
 * Opens (or shares) the pool for `config` and makes sure the schema is migrated as the
 * `migrate` setting says. Returns the handle and a release function.
 */
export async function acquireDb(config: WorldConfig): Promise<{ db: Db; release: () => Promise<void> }> {
  requireConnection(config);
  let release = async () => {};
  let sql: Sql;
  let readyKey: string;
  if (config.sql) {
    sql = config.sql; // owned by the app: never ended here
    readyKey = `app:${config.schema}`;
  } else {
    const url = config.connectionString as string;
    const key = poolKey(config, url);
    let shared = pools.get(key);
    if (!shared) {
      shared = { sql: postgres(url, connectionOptions(config, config.poolSize)), refs: 0 };
      pools.set(key, shared);
    }
    shared.refs++;
    sql = shared.sql;
    readyKey = `${url}\u0000${config.schema}`;
    let released = false;
    release = async () => {
      if (released) return;
      released = true;
      const s = pools.get(key);
      if (s && --s.refs === 0) {
        pools.delete(key);
        await s.sql.end({ timeout: 5 });
      }
    };
  }
  try {
    await ensureSchema(sql, config, readyKey);
  } catch (error) {
    await release();
    throw error;
  }
  return { db: { sql, schema: config.schema, ident: quoteIdent(config.schema), config }, release };
}

function ensureSchema(sql: Sql, config: WorldConfig, key: string): Promise<void> {
  if (config.migrate === 'off') return Promise.resolve();
  const fullKey = `${config.migrate}\u0000${key}`;
  let promise = ready.get(fullKey);
  if (!promise) {
    promise = (config.migrate === 'auto'
      ? migrateUp(sql, config.schema).then(() => undefined)
      : verifyMigrations(sql, config.schema)
    ).catch((error) => {
      ready.delete(fullKey); // a failure is retried by the next use, not cached
      throw error;
    });
    ready.set(fullKey, promise);
  }
  return promise;
}
