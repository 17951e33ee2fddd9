import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';
import { quoteIdent } from '../src/db/ident.js';
import { adminSql, databaseUrl } from './helpers/db.js';

/**
 * `npm run bench -- --quick` completes and writes its report. Only completion is checked: the
 * numbers of a run on a shared machine during a test suite mean nothing (bench/README.md).
 * dist/ is built by `npm test` (pretest) before vitest runs.
 */
test('the quick benchmark run completes and writes its report', async () => {
  const out = mkdtempSync(join(tmpdir(), 'wwp-bench-smoke-'));
  // databases of its own, so that a suite running beside this one does not share them
  const prefix = `wwp_smoke_${randomBytes(4).toString('hex')}`;
  try {
    await promisify(execFile)(process.execPath, ['bench/run.mjs', '--quick', `--out=${out}`], {
      env: { ...process.env, WORKFLOW_POSTGRES_URL: databaseUrl, WWP_BENCH_DB_PREFIX: prefix },
      maxBuffer: 16 << 20,
    });
    const report = readFileSync(join(out, 'latest.md'), 'utf8');
    expect(report).toContain('this World');
    const results = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(results).length).toBeGreaterThan(0);
  } finally {
    rmSync(out, { recursive: true, force: true });
    const sql = adminSql();
    const dbs = await sql<{ datname: string }[]>`select datname from pg_database where starts_with(datname, ${prefix})`;
    for (const { datname } of dbs) await sql.unsafe(`drop database if exists ${quoteIdent(datname)} with (force)`);
  }
}, 300_000);
