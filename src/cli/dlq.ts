import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { resolveConfig } from '../config.js';
import { connectionOptions } from '../db/client.js';
import { countDead, listDead, retryAllDead, retryDead } from '../queue/dlq.js';

/**
 * `workflow-world-postgres dlq list [--limit N] [--json] | retry <id> | retry --all`
 * [--url URL] [--schema NAME]. Exit codes: 0 ok, 1 failure (e.g. id not found), 2 usage.
 */
export const DLQ_USAGE =
  'usage: workflow-world-postgres dlq list [--limit N] [--json] | dlq retry <id> | dlq retry --all   [--url URL] [--schema NAME]';

export async function runDlq(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      schema: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
      all: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  const [sub, id, ...rest] = positionals;
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  const valid =
    !values.help &&
    rest.length === 0 &&
    ((sub === 'list' && id === undefined && (limit === undefined || (Number.isInteger(limit) && limit > 0))) ||
      (sub === 'retry' && (id === undefined) === (values.all === true)));
  if (!valid) {
    console.error(DLQ_USAGE);
    return 2;
  }
  const config = resolveConfig({ connectionString: values.url, schema: values.schema, migrate: 'off' });
  if (!config.connectionString) {
    console.error('no database: pass --url or set WORKFLOW_POSTGRES_URL (or DATABASE_URL)');
    return 2;
  }
  const sql = postgres(config.connectionString, connectionOptions(config, 1));
  try {
    if (sub === 'list') {
      const [dead, total] = await Promise.all([listDead(sql, config.schema, { limit }), countDead(sql, config.schema)]);
      if (values.json) {
        console.log(JSON.stringify({ total, messages: dead }, null, 2));
        return 0;
      }
      console.log(`schema "${config.schema}": ${total} dead-lettered message(s)${total > dead.length ? `, newest ${dead.length} shown` : ''}`);
      for (const m of dead) {
        console.log(`  ${m.id}  ${m.finishedAt.toISOString()}  attempt ${m.attempt}  ${m.queueName}${m.runId ? `  run ${m.runId}` : ''}`);
        if (m.lastError) console.log(`      ${m.lastError.split('\n')[0]}`);
      }
      return 0;
    }
    if (id !== undefined) {
      const result = await retryDead(sql, config.schema, id);
      const text = {
        retried: `${id}: pending again, due now`,
        not_found: `${id}: no dead-lettered message with this id`,
        superseded: `${id}: not retried, a live message now holds its idempotency key`,
      }[result];
      console.log(text);
      return result === 'retried' ? 0 : 1;
    }
    const counts = await retryAllDead(sql, config.schema);
    console.log(
      `schema "${config.schema}": ${counts.retried} retried` +
        (counts.superseded ? `, ${counts.superseded} superseded by a live message with the same idempotency key` : ''),
    );
    return 0;
  } finally {
    await sql.end({ timeout: 5 });
  }
}
