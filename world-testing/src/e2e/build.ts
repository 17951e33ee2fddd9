import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { delay } from '../util.js';

/** The layer 2 workflows and their server, shipped with this package. */
export const WORKFLOWS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'workflows');

const OUTPUT = ['.well-known', 'workflow', 'v1'];
const NOT_INPUTS = new Set(['.well-known', '.well-known.lock', '.swc', '.workflow-data', 'node_modules', '.gitignore']);

/** package.json of the `workflow` package the workflows folder resolves (its exports hide the file). */
function workflowPackageJson(dir: string): string {
  let d = dirname(createRequire(join(dir, 'index.js')).resolve('workflow'));
  for (;;) {
    const candidate = join(d, 'package.json');
    if (existsSync(candidate) && (JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string }).name === 'workflow') return candidate;
    const parent = dirname(d);
    if (parent === d) throw new Error(`cannot find the workflow package from ${dir}: install workflow@4.8.x`);
    d = parent;
  }
}

/** Hash of the workflow sources and of the installed `workflow` version: a rebuild is needed when it changes. */
function inputsHash(dir: string): string {
  const hash = createHash('sha256');
  const visit = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (NOT_INPUTS.has(entry.name)) continue;
      const path = join(d, entry.name);
      if (entry.isDirectory()) visit(path);
      else hash.update(relative(dir, path)).update('\0').update(readFileSync(path)).update('\0');
    }
  };
  visit(dir);
  hash.update(readFileSync(workflowPackageJson(dir)));
  return hash.digest('hex');
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
}

/** A directory lock shared by every process building the same folder (vitest runs files in parallel). */
async function withLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lock = join(dir, '.well-known.lock');
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST') throw error;
      const owner = Number(readIfExists(join(lock, 'pid')));
      const stale = owner ? !isAlive(owner) : Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? 0) > 30_000;
      if (stale) rmSync(lock, { recursive: true, force: true });
      else await delay(200);
    }
  }
  writeFileSync(join(lock, 'pid'), String(process.pid));
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function run(command: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(output) : reject(new Error(`${[command, ...args].join(' ')} exited ${code}:\n${output}`))));
  });
}

/**
 * `wf build --target standalone` in the workflows folder, unless its inputs are unchanged since
 * the last build. The build writes .well-known/workflow/v1/{flow,step,webhook}.js; webhook.js is
 * ESM and the folder is CommonJS, so it is also copied to webhook.mjs.
 */
export async function buildWorkflows(dir = WORKFLOWS_DIR): Promise<void> {
  await withLock(dir, async () => {
    const out = join(dir, ...OUTPUT);
    const stamp = join(dir, '.well-known', 'inputs.sha256');
    const hash = inputsHash(dir);
    if (readIfExists(stamp) === hash && existsSync(join(out, 'webhook.mjs'))) return;
    const bin = join(dirname(workflowPackageJson(dir)), 'bin', 'run.js');
    await run(process.execPath, [bin, 'build', '--target', 'standalone'], dir);
    copyFileSync(join(out, 'webhook.js'), join(out, 'webhook.mjs'));
    writeFileSync(stamp, hash);
  });
}
