import { countDead, listDead, retryAllDead, retryDead } from '../queue/dead-letters.js';
import { parseCommand } from './args.js';
import { requireMigrated, withConnection } from './connect.js';

/**
 * `workflow-world-postgres dlq list [--limit N] [--json] | retry <id> | retry --all`
 * [--url URL] [--schema NAME]. Exit codes: 0 ok, 1 failure (e.g. id not found), 2 usage.
 */
export const DLQ_USAGE =
  'usage: workflow-world-postgres dlq list [--limit N] [--json] | dlq retry <id> | dlq retry --all   [--url URL] [--schema NAME]';

export async function runDlq(argv: string[]): Promise<number> {
  const result = parseCommand(
    argv,
    {
      url: { type: 'string' },
      schema: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
      all: { type: 'boolean' },
    },
    DLQ_USAGE,
  );
  if ('exit' in result) return result.exit;
  const { values, positionals } = result.parsed;
  const [sub, id, ...rest] = positionals;
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  const valid =
    rest.length === 0 &&
    ((sub === 'list' && id === undefined && (limit === undefined || (Number.isInteger(limit) && limit > 0))) ||
      (sub === 'retry' && (id === undefined) === (values.all === true)));
  if (!valid) {
    console.error(DLQ_USAGE);
    return 2;
  }
  return withConnection(values, async (sql, schema) => {
    if (!(await requireMigrated(sql, schema))) return 1;
    if (sub === 'list') {
      const [dead, total] = await Promise.all([listDead(sql, schema, { limit }), countDead(sql, schema)]);
      if (values.json) {
        console.log(JSON.stringify({ total, messages: dead }, null, 2));
        return 0;
      }
      console.log(`schema "${schema}": ${total} dead-lettered message(s)${total > dead.length ? `, newest ${dead.length} shown` : ''}`);
      for (const m of dead) {
        console.log(`  ${m.id}  ${m.finishedAt.toISOString()}  attempt ${m.attempt}  ${m.queueName}${m.runId ? `  run ${m.runId}` : ''}`);
        if (m.lastError) console.log(`      ${m.lastError.split('\n')[0]}`);
      }
      return 0;
    }
    if (id !== undefined) {
      const result = await retryDead(sql, schema, id);
      const text = {
        retried: `${id}: pending again, due now`,
        not_found: `${id}: no dead-lettered message with this id`,
        superseded: `${id}: not retried, a live message now holds its idempotency key`,
      }[result];
      console.log(text);
      return result === 'retried' ? 0 : 1;
    }
    const counts = await retryAllDead(sql, schema);
    console.log(
      `schema "${schema}": ${counts.retried} retried` +
        (counts.superseded ? `, ${counts.superseded} superseded by a live message with the same idempotency key` : ''),
    );
    return 0;
  });
}
