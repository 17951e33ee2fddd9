// Building and spawning the example app (examples/order-app), shared by `npm start`
// (scripts/start.mjs) and the end-to-end test harness (test/helpers/app.ts).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { run } from './util.mjs';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const APP_DIR = join(REPO_ROOT, 'examples', 'order-app');
/** This package's CommonJS entry: the runtime require()s WORKFLOW_TARGET_WORLD from the app's cwd. */
export const WORLD_ENTRY = join(REPO_ROOT, 'dist', 'index.cjs');

const OUT_DIR = join(APP_DIR, '.well-known', 'workflow', 'v1');
const STAMP = join(APP_DIR, '.well-known', 'inputs.sha256');
const LOCK = join(APP_DIR, '.well-known.lock');
/** What `wf build` writes or reads besides the app's own sources; never hashed. */
const NOT_INPUTS = new Set(['.well-known', '.well-known.lock', '.swc', '.workflow-data', 'node_modules']);

/** Hash of every source file of the app and of the installed `workflow` version. */
function inputsHash() {
  const hash = createHash('sha256');
  const visit = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (NOT_INPUTS.has(entry.name)) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) visit(path);
      else hash.update(relative(APP_DIR, path)).update('\0').update(readFileSync(path)).update('\0');
    }
  };
  visit(APP_DIR);
  hash.update(readFileSync(join(REPO_ROOT, 'node_modules', 'workflow', 'package.json')));
  return hash.digest('hex');
}

function readIfExists(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

/**
 * Runs `fn` while holding a lock directory: test files run in parallel, and `npm start` may run
 * beside them, so two `wf build`s could otherwise write the same bundles at once. A lock left by a
 * process that died is taken over.
 */
async function withLock(fn) {
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
      const owner = Number(readIfExists(join(LOCK, 'pid')));
      // An empty pid file only means its owner is between mkdir and write; give it a moment.
      const ownerGone = owner ? !isAlive(owner) : Date.now() - statSync(LOCK, { throwIfNoEntry: false })?.mtimeMs > 30_000;
      if (ownerGone) rmSync(LOCK, { recursive: true, force: true });
      else await delay(200);
    }
  }
  writeFileSync(join(LOCK, 'pid'), String(process.pid));
  try {
    return await fn();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

/**
 * Runs `wf build` (standalone target) in the app folder unless its sources are unchanged since
 * the last build. Returns whether it built.
 */
export async function buildOrderApp({ log = () => {} } = {}) {
  return withLock(async () => {
    const hash = inputsHash();
    if (readIfExists(STAMP) === hash && readIfExists(join(OUT_DIR, 'webhook.mjs')) !== undefined) return false;
    log('building the example workflows (wf build)');
    const wf = join(dirname(createRequire(import.meta.url).resolve('workflow')), '..', 'bin', 'run.js');
    await run(process.execPath, [wf, 'build', '--target', 'standalone'], { cwd: APP_DIR });
    // webhook.js is ESM importing `workflow/api`; the app folder is CommonJS, so it loads as .mjs.
    copyFileSync(join(OUT_DIR, 'webhook.js'), join(OUT_DIR, 'webhook.mjs'));
    writeFileSync(STAMP, hash);
    return true;
  });
}

/**
 * The environment that points the app at a World: 'local' is the reference filesystem World
 * (data in `localDataDir`), 'postgres' is this package's built entry.
 */
export function worldEnv(world, { localDataDir } = {}) {
  if (world === 'local') return { WORKFLOW_TARGET_WORLD: 'local', WORKFLOW_LOCAL_DATA_DIR: localDataDir };
  return { WORKFLOW_TARGET_WORLD: WORLD_ENTRY };
}

/** Spawns the app's server with its folder as cwd (where the runtime resolves the World). */
export function spawnOrderApp({ env, stdio = 'inherit' }) {
  return spawn(process.execPath, ['server.mjs'], { cwd: APP_DIR, env, stdio });
}
