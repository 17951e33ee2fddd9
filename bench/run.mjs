#!/usr/bin/env node
// npm run bench [-- --quick] [-- --only=storage,idle,growth,streams,e2e] [-- --out=DIR] [-- --otel]
// (--otel: e2e also runs this World with an OpenTelemetry SDK registered, `ours-otel`)
//
// Runs every scenario against this World (dist/), @workflow/world-postgres@4.3.7 and a raw
// PostgreSQL reference, each contestant in fresh child processes on its own database, and
// writes <out>/latest.json, <out>/latest.md and <out>/storage-scaling.svg.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openSession, runChild } from './lib/child-runner.mjs';
import { pgbenchOnce, pgbenchVersion } from './scenarios/pgbench.mjs';
import { adminSql, BASE_URL, parseArgs } from './lib/common.mjs';
import { prepareDatabases, ROOT } from './lib/targets.mjs';
import { renderMarkdown, renderSvg } from './report.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = parseArgs(process.argv.slice(2));
const quick = Boolean(args.quick);
const ALL = ['storage', 'idle', 'growth', 'streams', 'e2e'];
const only = args.only ? String(args.only).split(',') : ALL;
const outDir = path.resolve(args.out ? String(args.out) : quick ? path.join(os.tmpdir(), 'wwp-bench-quick') : path.join(here, 'results'));

// ---- progress line -----------------------------------------------------------------------
const t0 = Date.now();
const tty = process.stderr.isTTY;
let stepLabel = '';
function show(text) {
  const line = `[bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${stepLabel}${text ? ` — ${text}` : ''}`;
  if (tty) process.stderr.write(`\r\x1b[2K${line.slice(0, (process.stderr.columns || 120) - 1)}`);
  else process.stderr.write(`${line}\n`);
}
function done(text) {
  if (tty) process.stderr.write('\r\x1b[2K');
  process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${text}\n`);
}
const child = (scenario, opts, extra) => runChild(scenario, opts, { onProgress: show, ...extra });

// ---- plans ---------------------------------------------------------------------------------
const P = quick
  ? {
      storage: { steps: 3, concurrency: [1, 4], reps: 1, ms: 300, warmupMs: 100 },
      idle: { seconds: 2, settleMs: 500 },
      growth: { scales: [1_000, 5_000], calls: 20 },
      streams: { quick: true },
      e2e: { quick: true },
    }
  : {
      storage: { steps: 3, concurrency: [1, 4, 16], reps: 3, ms: 2_000, warmupMs: 600 },
      idle: { seconds: 20, settleMs: 3_000 },
      growth: { scales: [10_000, 100_000, 1_000_000], calls: 300 },
      streams: {},
      e2e: {},
    };

/**
 * Scenario 1. One warm process per contestant; repetitions interleave the contestants (and
 * pgbench), rotating their order, so that the machine's changing load hits all of them alike.
 */
async function storageScenario() {
  const plan = P.storage;
  const targets = ['ours', 'anchor', 'raw'];
  const out = { steps: plan.steps };
  const sessions = {};
  try {
    for (const target of targets) {
      show(`starting ${target}`);
      sessions[target] = await openSession('storage', { target, steps: plan.steps, timeoutMs: 900_000 }, { onProgress: show });
      out[target] = { steps: plan.steps, byClients: {} };
    }
    const pgbench = await pgbenchVersion();
    out.pgbench = pgbench ? { version: pgbench, byClients: {} } : { skipped: 'pgbench not installed' };
    const contestants = [...targets, ...(pgbench ? ['pgbench'] : [])];
    for (let rep = 0; rep < plan.reps; rep++) {
      for (const clients of plan.concurrency) {
        const order = contestants.map((_, i) => contestants[(i + rep) % contestants.length]);
        for (const target of order) {
          show(`rep ${rep + 1}/${plan.reps}, ${clients} client(s), ${target}`);
          let r;
          try {
            r = target === 'pgbench'
              ? await pgbenchOnce({ clients, seconds: Math.max(1, Math.round(plan.ms / 1000)) })
              : await sessions[target].call({ cmd: 'load', clients, ms: plan.ms, warmupMs: plan.warmupMs });
          } catch (error) {
            // one lost repetition (e.g. the shared server out of connections) is recorded, not fatal
            r = { error: String(error.message ?? error).split('\n').slice(0, 3).join(' ') };
            results.errors.push({ step: `storage ${target} c=${clients} rep ${rep + 1}`, message: r.error });
          }
          (out[target].byClients[clients] ??= []).push(r);
        }
      }
    }
    for (const target of targets) {
      show(`counting statements and commits: ${target}`);
      out[target].perLifecycle = await sessions[target].call({ cmd: 'count' });
    }
  } finally {
    await Promise.all(Object.values(sessions).map((s) => s.close()));
  }
  return out;
}

async function serverInfo() {
  const sql = adminSql(BASE_URL);
  try {
    const [{ version }] = await sql`select version()`;
    const settings = await sql`
      select name, setting from pg_settings
       where name in ('shared_buffers', 'synchronous_commit', 'fsync', 'max_connections', 'wal_level', 'full_page_writes')`;
    const preload = (await sql`select setting from pg_settings where name = 'shared_preload_libraries'`)[0]?.setting ?? '';
    return { version, settings: Object.fromEntries(settings.map((r) => [r.name, r.setting])), pgStatStatements: preload.includes('pg_stat_statements') };
  } finally {
    await sql.end();
  }
}

function gitCommit() {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'migrations'], { cwd: ROOT }).toString().trim();
    return dirty ? `${head}+uncommitted src/migrations` : head;
  } catch {
    return 'unknown';
  }
}

/** Puts the targets table of a full run between the markers of bench/README.md. */
function updateReadme(results) {
  const file = path.join(here, 'README.md');
  const text = readFileSync(file, 'utf8');
  const md = renderMarkdown(results);
  const head = md.split('\n').slice(2, 3).join('\n'); // the line with date, machine, PostgreSQL
  const targets = md.slice(md.indexOf('## Targets'), md.indexOf('\n## ', md.indexOf('## Targets') + 5)).replace('## Targets', '').trim();
  const block = `<!-- latest:start -->\n${head}\n\n${targets}\n<!-- latest:end -->`;
  writeFileSync(file, text.replace(/<!-- latest:start -->[\s\S]*<!-- latest:end -->/, block));
}

async function main() {
  if (!existsSync(path.join(ROOT, 'dist', 'index.js'))) {
    throw new Error('dist/index.js is missing: run `npm run build` first (npm run bench does)');
  }
  const pkg = (name) => JSON.parse(readFileSync(path.join(ROOT, 'node_modules', ...name.split('/'), 'package.json'), 'utf8')).version;
  const results = {
    meta: {
      date: new Date().toISOString(),
      quick,
      commit: gitCommit(),
      node: process.version,
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cores: os.cpus().length,
      memGiB: Math.round(os.totalmem() / 2 ** 30),
      loadAvgAtStart: os.loadavg().map((x) => Number(x.toFixed(2))),
      postgres: await serverInfo(),
      versions: { ours: JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version, anchor: pkg('@workflow/world-postgres'), workflow: pkg('workflow'), postgresJs: pkg('postgres') },
      plan: P,
    },
    scenarios: {},
    errors: [],
  };

  stepLabel = 'setup';
  show('creating databases wwp_bench_{ours,anchor,raw}');
  await prepareDatabases();

  const attempt = async (label, fn) => {
    stepLabel = label;
    show('');
    try {
      const r = await fn();
      done(`${label}: done`);
      return r;
    } catch (error) {
      done(`${label}: FAILED ${String(error.message ?? error).split('\n')[0]}`);
      results.errors.push({ step: label, message: String(error.message ?? error) });
      return { error: String(error.message ?? error).split('\n')[0] };
    }
  };

  if (only.includes('storage')) {
    results.scenarios.storage = await attempt('storage', () => storageScenario());
  }
  if (only.includes('idle')) {
    // both at once: separate databases, separate processes, and the wait dominates
    stepLabel = 'idle ours + anchor';
    const [ours, anchor] = await Promise.all(
      ['ours', 'anchor'].map((target) =>
        child('idle', { target, ...P.idle }).catch((e) => {
          results.errors.push({ step: `idle ${target}`, message: String(e.message) });
          return { error: String(e.message).split('\n')[0] };
        }),
      ),
    );
    results.scenarios.idle = { ours, anchor };
    done('idle: done');
  }
  if (only.includes('growth')) {
    const g = (results.scenarios.growth = {});
    for (const target of ['ours', 'anchor']) {
      g[target] = await attempt(`growth ${target}`, () => child('growth', { target, ...P.growth, timeoutMs: 300_000 }));
    }
  }
  if (only.includes('streams') && existsSync(path.join(here, 'scenarios', 'streams.mjs'))) {
    const st = (results.scenarios.streams = {});
    for (const target of ['ours', 'anchor']) {
      st[target] = await attempt(`streams ${target}`, () => child('streams', { target, ...P.streams }));
    }
  }
  if (only.includes('e2e') && existsSync(path.join(here, 'scenarios', 'e2e.mjs'))) {
    const { runE2e } = await import('./scenarios/e2e.mjs');
    results.scenarios.e2e = await attempt('e2e', () => runE2e({ ...P.e2e, otel: Boolean(args.otel), onProgress: show }));
  }

  results.meta.elapsedSec = Math.round((Date.now() - t0) / 1000);
  results.meta.loadAvgAtEnd = os.loadavg().map((x) => Number(x.toFixed(2)));
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(path.join(outDir, 'latest.md'), renderMarkdown(results));
  const svg = renderSvg(results);
  if (svg) writeFileSync(path.join(outDir, 'storage-scaling.svg'), svg);
  if (!quick && !args.out && !args.only) updateReadme(results);
  done(`wrote ${path.relative(process.cwd(), outDir) || '.'}/latest.{md,json}${svg ? ', storage-scaling.svg' : ''} in ${results.meta.elapsedSec} s`);
  if (results.errors.length) {
    process.stderr.write(`${results.errors.length} step(s) failed:\n${results.errors.map((e) => `  ${e.step}: ${e.message.split('\n')[0]}`).join('\n')}\n`);
    process.exitCode = 1;
  }
}

main().catch((error) => {
  done(`bench failed: ${error.stack ?? error}`);
  process.exit(1);
});
