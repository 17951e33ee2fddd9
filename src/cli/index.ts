#!/usr/bin/env node
import { definitionStatus, migrateDown, migrateUp, migrationStatus } from '../db/migrate.js';
import { WorldPgError } from '../errors.js';
import { packageVersion, parseCommand } from './args.js';
import { withConnection } from './connect.js';
import { DLQ_USAGE, runDlq } from './dlq.js';
import { HEALTH_USAGE, runHealth } from './health.js';

/**
 * `workflow-world-postgres <command>`. Exit codes: 0 ok, 1 failure, 2 usage.
 *   migrate up [--to N] | down [--to N] | status      [--url URL] [--schema NAME]
 *     (up and down also bring the functions of migrations/definitions/ in line with the version)
 *   dlq list [--limit N] [--json] | retry <id> | retry --all
 *   health [--json]
 */
const USAGE = [
  'usage: workflow-world-postgres migrate up|down|status [--to N] [--url URL] [--schema NAME]',
  DLQ_USAGE.replace('usage: ', '       '),
  HEALTH_USAGE.replace('usage: ', '       '),
].join('\n');

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'dlq') return runDlq(argv.slice(1));
  if (argv[0] === 'health') return runHealth(argv.slice(1));
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
    console.log(packageVersion());
    return 0;
  }
  const result = parseCommand(argv, { url: { type: 'string' }, schema: { type: 'string' }, to: { type: 'string' } }, USAGE);
  if ('exit' in result) return result.exit;
  const { values, positionals } = result.parsed;
  const [command, sub] = positionals;
  if (command !== 'migrate' || !['up', 'down', 'status'].includes(sub ?? '') || positionals.length > 2) {
    console.error(USAGE);
    return 2;
  }
  const to = values.to === undefined ? undefined : Number(values.to);
  if (to !== undefined && (!Number.isInteger(to) || to < 0)) {
    console.error('--to expects a migration number');
    return 2;
  }
  return withConnection(values, async (sql, schema) => {
    if (sub === 'status') {
      const states = await migrationStatus(sql, schema);
      console.log(`schema "${schema}"`);
      for (const s of states) {
        const mark = s.changed ? 'CHANGED' : s.applied ? 'applied' : 'pending';
        const at = s.appliedAt ? `  ${s.appliedAt.toISOString()}` : '';
        console.log(`  ${String(s.version).padStart(4, '0')}_${s.name}  ${mark}${at}`);
      }
      for (const d of await definitionStatus(sql, schema)) {
        const needs = String(d.requiredVersion).padStart(4, '0');
        console.log(`  definitions/${d.name}  ${d.current ? 'current' : `pending (applied by migrate up once ${needs} is)`}`);
      }
      return states.some((s) => s.changed) ? 1 : 0;
    }
    const files = sub === 'up' ? await migrateUp(sql, schema, { to }) : await migrateDown(sql, schema, { to });
    const verb = sub === 'up' ? 'applied' : 'reverted';
    if (files.length === 0) console.log(`schema "${schema}": nothing to do`);
    for (const f of files) console.log(`schema "${schema}": ${verb} ${String(f.version).padStart(4, '0')}_${f.name}`);
    return 0;
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(WorldPgError.is(error) ? error.message : `[workflow-world-postgres] ${(error as Error).message}`);
    process.exit(1);
  },
);
