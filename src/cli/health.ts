import type { HealthReport } from '../health.js';
import { createWorld } from '../index.js';
import { parseCommand } from './args.js';

/**
 * `workflow-world-postgres health [--json] [--url URL] [--schema NAME]`: the World's health
 * report for the database and schema (migrate 'off': it never creates or changes a schema).
 * Exit codes: 0 healthy (ok or degraded), 1 down, 2 usage.
 */
export const HEALTH_USAGE = 'usage: workflow-world-postgres health [--json] [--url URL] [--schema NAME]';

export async function runHealth(argv: string[]): Promise<number> {
  const result = parseCommand(argv, { url: { type: 'string' }, schema: { type: 'string' }, json: { type: 'boolean' } }, HEALTH_USAGE);
  if ('exit' in result) return result.exit;
  const { values, positionals } = result.parsed;
  if (positionals.length > 0) {
    console.error(HEALTH_USAGE);
    return 2;
  }
  const world = createWorld({ connectionString: values.url, schema: values.schema, migrate: 'off', poolSize: 2 });
  try {
    const report = await world.health();
    console.log(values.json ? JSON.stringify(report, null, 2) : table(report));
    return report.status === 'down' ? 1 : 0;
  } finally {
    await world.close();
  }
}

/** The report as aligned lines: check, status, details. */
function table(r: HealthReport): string {
  const rows: [string, string, string][] = [
    ['database', r.database.status, r.database.latencyMs !== null ? `round trip ${r.database.latencyMs} ms` : (r.database.error ?? '')],
    ['migrations', r.migrations.status, `version ${r.migrations.version} of ${r.migrations.latest}${r.migrations.pending.length ? `; pending ${r.migrations.pending.join(', ')}` : ''}`],
    ['listener', r.listener.status, r.listener.since ? `since ${r.listener.since}` : ''],
    ['worker', r.worker.status, `${r.worker.inFlight}/${r.worker.concurrency} in flight${r.worker.lastClaimAt ? `, last claim ${r.worker.lastClaimAt}` : ''}`],
    [
      'queue',
      r.queue.status,
      r.queue.error ??
        `ready ${r.queue.ready}, delayed ${r.queue.delayed}, leased ${r.queue.leased}, dead ${r.queue.dead}` +
          (r.queue.oldestReadyAgeMs !== null ? `, oldest ready ${r.queue.oldestReadyAgeMs} ms` : ''),
    ],
  ];
  const width = (i: 0 | 1) => Math.max(...rows.map((row) => row[i].length));
  const lines = rows.map(([a, b, c]) => `${a.padEnd(width(0))}  ${b.padEnd(width(1))}  ${c}`.trimEnd());
  return [`overall: ${r.status}${r.reasons.length ? ` (${r.reasons.join('; ')})` : ''}`, ...lines].join('\n');
}
