import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { adminSql, databaseUrl, freshSchema } from '../helpers/db.js';

/** The CLI's exit codes: 0 ok (and --help, --version), 1 failure, 2 usage. dist/ is built by `npm test`. */
const exec = promisify(execFile);
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, ['dist/cli.cjs', ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('cli', () => {
  test('--help prints the usage and exits 0 for the tool and every command; --version prints the version', async () => {
    for (const args of [['--help'], ['migrate', '--help'], ['dlq', '--help'], ['health', '--help']]) {
      const r = await cli(...args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout, args.join(' ')).toMatch(/^usage: workflow-world-postgres /);
    }
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    expect(await cli('--version')).toMatchObject({ code: 0, stdout: `${version}\n` });
  });

  test('unknown options, missing commands and extra arguments are usage errors (2) with the usage line', async () => {
    for (const args of [['migrate', 'up', '--bogus'], ['dlq', 'list', '--nope'], ['health', 'extra'], [], ['frobnicate'], ['migrate', 'up', 'now']]) {
      const r = await cli(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain('usage: workflow-world-postgres');
    }
    expect((await cli('migrate', 'up', '--bogus')).stderr).toContain("Unknown option '--bogus'");
  });

  test('dlq on a schema that is not migrated says so (1) and creates nothing', async () => {
    const schema = freshSchema('clidlq');
    const r = await cli('dlq', 'list', '--url', databaseUrl, '--schema', schema);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`schema "${schema}" does not exist or is not migrated`);
    expect(r.stderr).not.toContain('relation');
    const [row] = await adminSql()`select count(*)::int as n from information_schema.schemata where schema_name = ${schema}`;
    expect(row?.n).toBe(0);
  });
});
