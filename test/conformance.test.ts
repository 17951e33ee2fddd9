import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createWorld } from '../src/index.js';
import { createConformanceSuite } from '../world-testing/src/index.js';
import { databaseUrl, freshSchema } from './helpers/db.js';

/**
 * The conformance suite we publish for every World author (world-testing/), run against this
 * World: layer 1 through createWorld() from the sources, layer 2 (real workflows in a spawned
 * server) and the module-loading checks through the built CommonJS entry, as the runtime loads
 * it (`npm test` builds it first). CONFORMANCE_ONLY=queue,streamer narrows a run while developing.
 */
const only = process.env.CONFORMANCE_ONLY?.split(',');
const distEntry = fileURLToPath(new URL('../dist/index.cjs', import.meta.url));
if (!existsSync(distEntry)) throw new Error(`${distEntry} is missing: run \`npm run build\` first (npm test does)`);

// One schema per area: the suite never assumes empty storage, so the tests of an area share one
// (a fresh, migrated schema per test would cost more than the tests themselves).
const schemas = new Map<string, string>();
const schemaFor = (area: string) => {
  let schema = schemas.get(area);
  if (!schema) schemas.set(area, (schema = freshSchema(`conf_${area}`)));
  return schema;
};

createConformanceSuite({
  name: 'workflow-world-postgres conformance',
  world: ({ area }) => createWorld({ connectionString: databaseUrl, schema: schemaFor(area), poolSize: 10 }),
  e2e: {
    targetWorld: distEntry,
    env: () => ({ WORKFLOW_POSTGRES_URL: databaseUrl, WORKFLOW_POSTGRES_SCHEMA: schemaFor('e2e'), DATABASE_URL: undefined }),
  },
  ...(only ? { only } : {}),
});

// The World as WORKFLOW_TARGET_WORLD names it: configured only through the environment, loaded
// with require() from the working directory, built by calling the export with no arguments.
if (!only || only.includes('lifecycle')) {
  process.env.WORKFLOW_POSTGRES_URL = databaseUrl;
  process.env.WORKFLOW_POSTGRES_SCHEMA = schemaFor('module');
  createConformanceSuite({ name: 'workflow-world-postgres as a module (dist/index.cjs)', world: distEntry, only: ['lifecycle'] });
}
