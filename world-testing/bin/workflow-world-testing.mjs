#!/usr/bin/env node
// workflow-world-testing <module-or-package> [options]
// Runs the conformance suite with vitest against a World loaded the way the workflow runtime
// loads WORKFLOW_TARGET_WORLD (require() relative to the current directory), then prints a
// pass/fail table. Exit code: 0 all passed, 1 failures, 2 usage error.
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const USAGE = `usage: workflow-world-testing <module-or-package> [options]

  <module-or-package>   what WORKFLOW_TARGET_WORLD would name: a package (my-world),
                        a path (./dist/index.cjs) resolved from the current directory,
                        or "local" for the built-in @workflow/world-local
options:
  --e2e                 also run layer 2: real workflows through the real runtime
                        (builds world-testing/workflows with \`wf build\`; needs the
                        \`workflow\` package and a World configured through env vars)
  --e2e-env KEY=VALUE   environment for the layer 2 server only (repeatable); point it
                        at storage of its own: the runtime recovers every active run it
                        finds, and layer 1 leaves runs no deployment can execute
  --only <areas>        comma-separated areas: runs,steps,events,hooks,waits,pagination,
                        fidelity,queue,streamer,lifecycle,e2e
  --without <features>  comma-separated: queue, streamer, cross-instance-delivery,
                        multiple-instances (tests needing them are reported as skipped)
  --must-only           exit 0 when only SHOULD-level tests failed
  --json <file>         also write the results as JSON
  --timeout <ms>        per-test timeout (default 60000)
  --quiet               no vitest progress output, only the table
  -h, --help`;

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      e2e: { type: 'boolean' },
      'e2e-env': { type: 'string', multiple: true },
      only: { type: 'string' },
      without: { type: 'string' },
      'must-only': { type: 'boolean' },
      json: { type: 'string' },
      timeout: { type: 'string' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
} catch (error) {
  console.error(`${error.message}\n\n${USAGE}`);
  process.exit(2);
}
const { values, positionals } = parsed;
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (positionals.length !== 1) {
  console.error(USAGE);
  process.exit(2);
}
const target = positionals[0];
const cwd = process.cwd();

// Fail fast, with the runtime's own resolution rule, when the World cannot be found.
if (target !== 'local') {
  try {
    createRequire(join(cwd, 'index.js')).resolve(target);
  } catch (error) {
    console.error(`cannot resolve ${target} from ${cwd}: ${error.message.split('\n')[0]}`);
    console.error('install the World in this directory (the workflow runtime require()s it from the server’s working directory)');
    process.exit(2);
  }
}

const e2eEnv = {};
for (const pair of values['e2e-env'] ?? []) {
  const eq = pair.indexOf('=');
  if (eq < 1) {
    console.error(`--e2e-env expects KEY=VALUE, got ${pair}\n\n${USAGE}`);
    process.exit(2);
  }
  e2eEnv[pair.slice(0, eq)] = pair.slice(eq + 1);
}
if (values.e2e && Object.keys(e2eEnv).length === 0 && target !== 'local') {
  console.error('note: --e2e without --e2e-env runs layer 2 on the storage layer 1 fills; give it storage of its own');
}

const pkgDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
Object.assign(process.env, {
  WORKFLOW_WORLD_TESTING_TARGET: target,
  WORKFLOW_WORLD_TESTING_CWD: cwd,
  WORKFLOW_WORLD_TESTING_E2E: values.e2e ? '1' : '0',
  WORKFLOW_WORLD_TESTING_E2E_ENV: JSON.stringify(e2eEnv),
  ...(values.only ? { WORKFLOW_WORLD_TESTING_ONLY: values.only } : {}),
  ...(values.without ? { WORKFLOW_WORLD_TESTING_WITHOUT: values.without } : {}),
});

const { startVitest } = await import('vitest/node');
const timeout = Number(values.timeout ?? 60_000);
const vitest = await startVitest(
  'test',
  [],
  {
    root: pkgDir,
    config: false,
    include: ['src/cli/run-suite.ts'],
    exclude: [],
    watch: false,
    testTimeout: timeout,
    hookTimeout: timeout,
    pool: 'forks',
    reporters: values.quiet ? [{}] : ['default'],
    passWithNoTests: false,
  },
  { logLevel: values.quiet ? 'silent' : 'info' },
);

const rows = [];
const visit = (task, path) => {
  if (task.type === 'suite') {
    // the file itself is a suite (with a filepath) and the outer describe names the World
    const next = 'filepath' in task || path.length === 0 && task.name.startsWith('conformance:') ? path : [...path, task.name];
    for (const child of task.tasks ?? []) visit(child, next);
    return;
  }
  const severity = /^\[(MUST|SHOULD)\]/.exec(task.name)?.[1] ?? '';
  const state = task.mode === 'skip' || task.mode === 'todo' ? 'skip' : (task.result?.state ?? 'skip');
  const error = task.result?.errors?.[0];
  rows.push({
    area: path.join(' > '),
    severity,
    name: task.name.replace(/^\[(MUST|SHOULD)\]\s*/, ''),
    result: state === 'pass' ? 'pass' : state === 'fail' ? (error?.name === 'AssertionError' ? 'fail' : 'error') : 'skip',
    message: error ? `${error.name ?? 'Error'}: ${String(error.message ?? '').split('\n')[0]}` : undefined,
  });
};
const files = vitest?.state.getFiles() ?? [];
for (const file of files) {
  visit(file, []);
  // a file that failed to load or collect (e.g. the World module threw) has no tests
  for (const error of file.result?.errors ?? []) {
    rows.push({ area: '(collection)', severity: 'MUST', name: file.name, result: 'error', message: `${error.name}: ${error.message}` });
  }
}
await vitest?.close();

const pad = (s, n) => (s.length > n ? `${s.slice(0, n - 1)}…` : s.padEnd(n));
const width = Math.max(60, Math.min(110, Math.max(...rows.map((r) => r.name.length), 0)));
console.log(`\nworkflow-world-testing: ${target} (from ${cwd})\n`);
console.log(`${pad('area', 12)} ${pad('level', 6)} ${pad('test', width)} result`);
console.log(`${'-'.repeat(12)} ${'-'.repeat(6)} ${'-'.repeat(width)} ------`);
for (const r of rows) {
  console.log(`${pad(r.area, 12)} ${pad(r.severity, 6)} ${pad(r.name, width)} ${r.result.toUpperCase()}`);
  if (r.result === 'fail' || r.result === 'error') console.log(`${' '.repeat(20)}↳ ${r.message?.slice(0, 240)}`);
}
const tally = (severity) => {
  const of = rows.filter((r) => r.severity === severity);
  const n = (result) => of.filter((r) => r.result === result).length;
  return { total: of.length, pass: n('pass'), fail: n('fail') + n('error'), skip: n('skip') };
};
const must = tally('MUST');
const should = tally('SHOULD');
console.log(
  `\nMUST   ${must.pass}/${must.total - must.skip} passed${must.skip ? `, ${must.skip} skipped` : ''}` +
    `\nSHOULD ${should.pass}/${should.total - should.skip} passed${should.skip ? `, ${should.skip} skipped` : ''}`,
);
if (values.json) writeFileSync(values.json, `${JSON.stringify({ target, cwd, must, should, tests: rows }, null, 2)}\n`);

const collectionFailed = rows.some((r) => r.area === '(collection)') || rows.length === 0;
const failed = collectionFailed || must.fail > 0 || (!values['must-only'] && should.fail > 0);
process.exit(failed ? 1 : 0);
