#!/usr/bin/env node
// `npm start`: builds this package and the example app (examples/order-app), then serves the
// app on this World. The database is WORKFLOW_POSTGRES_URL or DATABASE_URL when set, otherwise
// an embedded PostgreSQL whose data lives in .embedded-postgres/ (EMBEDDED_POSTGRES_DIR) and
// survives restarts, on port 54329 when free (EMBEDDED_POSTGRES_PORT; 0 picks any free port).
// WORKFLOW_TARGET_WORLD=local runs the app on the reference filesystem World instead.
// SIGINT/SIGTERM are forwarded to the app, which stops its World; the embedded server is
// stopped after the app has exited.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres } from './lib/embedded-postgres.mjs';
import { APP_DIR, buildOrderApp, REPO_ROOT, spawnOrderApp, worldEnv } from './lib/order-app.mjs';
import { run } from './lib/util.mjs';

const log = (message) => console.log(`[npm start] ${message}`);

/** Newest modification time under `path` (a file or a folder), or 0 if it does not exist. */
function newestMtime(path) {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newestMtime(join(path, name))));
}

/** Runs `npm run build` when dist/ is missing or older than anything it is built from. */
async function ensurePackageBuilt() {
  const outputs = ['dist/index.cjs', 'dist/index.js', 'dist/cli.cjs'].map((p) => join(REPO_ROOT, p));
  const inputs = ['src', 'migrations', 'scripts/build-sql.mjs', 'tsup.config.ts', 'package.json', 'package-lock.json'];
  const built = outputs.every((p) => existsSync(p)) ? Math.min(...outputs.map(newestMtime)) : 0;
  if (built > Math.max(...inputs.map((p) => newestMtime(join(REPO_ROOT, p))))) return;
  log('building the package (npm run build)');
  // npm_execpath is npm's own script when we run under `npm start`; plain `node` falls back to PATH.
  const npm = process.env.npm_execpath;
  await (npm ? run(process.execPath, [npm, 'run', 'build'], { cwd: REPO_ROOT }) : run('npm', ['run', 'build'], { cwd: REPO_ROOT }));
}

function redact(url) {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparseable URL>';
  }
}

let app;
let stopSignal;
let database;

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    stopSignal ??= signal;
    // Before the app runs there is nothing to forward: the steps below check stopSignal.
    app?.kill(signal);
  });
}

async function main() {
  await ensurePackageBuilt();
  if (await buildOrderApp({ log })) log('example app built');
  if (stopSignal) return 128 + constants.signals[stopSignal];

  const target = process.env.WORKFLOW_TARGET_WORLD || 'postgres';
  const env = { ...process.env, PORT: process.env.PORT || '3000' };
  if (target === 'local') {
    Object.assign(env, worldEnv('local', { localDataDir: process.env.WORKFLOW_LOCAL_DATA_DIR || join(APP_DIR, '.workflow-data') }));
  } else {
    if (target === 'postgres') Object.assign(env, worldEnv('postgres'));
    let url = process.env.WORKFLOW_POSTGRES_URL || process.env.DATABASE_URL;
    if (!url) {
      database = await startEmbeddedPostgres({
        baseDir: process.env.EMBEDDED_POSTGRES_DIR || join(REPO_ROOT, '.embedded-postgres'),
        preferredPort: Number(process.env.EMBEDDED_POSTGRES_PORT || 54329),
        log,
      });
      url = database.url;
      if (stopSignal) return 128 + constants.signals[stopSignal];
    }
    env.WORKFLOW_POSTGRES_URL = url;
    log(`database: ${redact(url)} (schema ${env.WORKFLOW_POSTGRES_SCHEMA || 'workflow'})`);
  }
  log(`World: ${env.WORKFLOW_TARGET_WORLD}`);

  app = spawnOrderApp({ env });
  return new Promise((resolve) => {
    app.on('exit', (code, signal) => resolve(code ?? 128 + constants.signals[signal]));
  });
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (error) {
  console.error(`[npm start] ${error.message}`);
} finally {
  if (database) {
    await database.stop().then(
      () => log('embedded PostgreSQL stopped'),
      (error) => console.error(`[npm start] could not stop the embedded PostgreSQL: ${error.message}`),
    );
  }
}
process.exit(exitCode);
