// The floor of the storage scenario: pgbench single-row INSERT (one statement, one commit per
// transaction), prepared protocol, against the raw database. Run by the parent between the
// other contestants' repetitions.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { DATABASES, dbUrl } from '../lib/common.mjs';

const exec = promisify(execFile);

/** pgbench's version line, or null when it is not installed. */
export async function pgbenchVersion() {
  try {
    return (await exec('pgbench', ['--version'])).stdout.trim();
  } catch {
    return null;
  }
}

export async function pgbenchOnce({ clients, seconds }) {
  const script = path.join(os.tmpdir(), 'wwp-bench-insert.sql');
  writeFileSync(script, "insert into pgb (payload) values (repeat('x', 96));\n");
  const args = ['-n', '-M', 'prepared', '-f', script, '-c', String(clients), '-j', String(Math.min(clients, 2)),
    '-T', String(seconds), dbUrl(DATABASES.raw)];
  let stdout;
  for (let attempt = 1; ; attempt++) {
    try {
      ({ stdout } = await exec('pgbench', args));
      break;
    } catch (error) {
      // the shared server may be out of connection slots for a moment (other suites run too)
      if (attempt >= 3 || !/too many clients/.test(String(error.stderr ?? error.message))) throw error;
      await new Promise((r) => setTimeout(r, 2_000));
    }
  }
  return {
    tps: Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(stdout)?.[1]),
    latencyAvgMs: Number(/latency average = ([\d.]+) ms/.exec(stdout)?.[1]),
  };
}
