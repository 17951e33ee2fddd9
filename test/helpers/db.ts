import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, inject } from 'vitest';
import { quoteIdent } from '../../src/config.js';
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
  await Promise.all(worlds.map((w) => w.close()));
  const sql = adminSql();
  for (const schema of schemas) await sql.unsafe(`drop schema if exists ${quoteIdent(schema)} cascade`);
  await sql.end({ timeout: 5 });
  admin = undefined;
});
