import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, inject } from 'vitest';
import { quoteIdent } from '../../src/db/ident.js';
import { createWorld, type PostgresWorld, type WorldOptions } from '../../src/index.js';

/** The server every test talks to (see test/global-setup.ts). */
export const databaseUrl = inject('databaseUrl');

const schemas: string[] = [];
const worlds: PostgresWorld[] = [];
let admin: postgres.Sql | undefined;

/** A client for assertions and setup; closed after the file. */
export function adminSql(): postgres.Sql {
  admin ??= postgres(databaseUrl, { max: 4, onnotice: () => {} });
  return admin;
}

/** A schema name no other test uses; dropped after the file. */
export function freshSchema(prefix = 't'): string {
  const schema = `${prefix}_${randomBytes(6).toString('hex')}`;
  schemas.push(schema);
  return schema;
}

/** A World on a schema of its own (or the one given); closed after the file. */
export function testWorld(options: WorldOptions = {}): PostgresWorld {
  const world = createWorld({ connectionString: databaseUrl, schema: freshSchema(), poolSize: 5, ...options });
  worlds.push(world);
  return world;
}

afterAll(async () => {
  // Bounded, and says what is stuck: a World whose close() hangs is a bug worth naming.
  const closing = worlds.map(async (w, i) => {
    const timer = setTimeout(() => console.error(`[test] World #${i} has not closed after 20 s`), 20_000);
    try {
      await w.close();
    } finally {
      clearTimeout(timer);
    }
  });
  await Promise.all(closing);
  const sql = adminSql();
  for (const schema of schemas) {
    const timer = setTimeout(async () => {
      const holders = await sql`select pid, application_name, state, left(query, 120) as query from pg_stat_activity
        where pid in (select pid from pg_locks where not granted or locktype = 'relation') and pid <> pg_backend_pid()`;
      console.error(`[test] dropping schema ${schema} is waiting; sessions holding or awaiting locks:`, holders);
    }, 20_000);
    try {
      await sql.unsafe(`drop schema if exists ${quoteIdent(schema)} cascade`);
    } finally {
      clearTimeout(timer);
    }
  }
  await sql.end({ timeout: 5 });
  admin = undefined;
});
