#!/usr/bin/env node
// Renders results JSON as Markdown and an SVG chart. Also a CLI:
//   node bench/report.mjs bench/results/latest.json   (rewrites latest.md and the chart beside it)
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { aggregate } from './lib/common.mjs';

const NAMES = {
  ours: 'this World',
  'ours-otel': 'this World + OpenTelemetry SDK',
  anchor: 'world-postgres 4.3.7',
  raw: 'raw postgres.js',
  pgbench: 'pgbench INSERT',
};

const f = (v, d = 0) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }));
const ms = (v) => (v === null || v === undefined ? '–' : v < 10 ? f(v, 2) : f(v, 1));
const spread = (a) => (a?.spread === null || a?.spread === undefined ? '' : ` ±${f((a.spread * 100) / 2, 0)}%`);
const x = (v) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : `${f(v, v < 10 ? 2 : 1)}×`);
const ok = (met) => (met === null || met === undefined ? 'n/a' : met ? '**met**' : '**not met**');

/** Median + spread of a field over the repetitions of one contestant at one client count. */
export function storageAgg(storage, target, clients, field) {
  const reps = storage?.[target]?.byClients?.[clients];
  if (!Array.isArray(reps)) return null;
  return aggregate(reps.map((r) => r[field]));
}

/** Every performance target that this run measured: [label, ours, reference, ratio, goal, met]. */
export function targetRows(r) {
  const rows = [];
  const s = r.scenarios.storage;
  if (s) {
    for (const c of [1, 16]) {
      const ours = storageAgg(s, 'ours', c, 'eventsPerSec')?.median;
      const raw = storageAgg(s, 'raw', c, 'eventsPerSec')?.median;
      const pgb = storageAgg(s, 'pgbench', c, 'tps')?.median;
      const anchor = storageAgg(s, 'anchor', c, 'eventsPerSec')?.median;
      if (ours === undefined || ours === null) continue;
      rows.push([`Storage events/s, ${c} client${c > 1 ? 's' : ''}, vs raw postgres.js adapter`, `${f(ours)} /s`, `${f(raw)} /s`, ours / raw, '≥ 0.5×', raw ? ours / raw >= 0.5 : null]);
      if (pgb) rows.push([`Storage events/s, ${c} client${c > 1 ? 's' : ''}, vs pgbench single-row INSERT`, `${f(ours)} /s`, `${f(pgb)} tps`, ours / pgb, '≥ 0.5×', ours / pgb >= 0.5]);
      if (anchor) rows.push([`Storage events/s, ${c} client${c > 1 ? 's' : ''}, vs anchor (context)`, `${f(ours)} /s`, `${f(anchor)} /s`, ours / anchor, '–', null]);
    }
    const st = s.ours?.perLifecycle?.statements;
    if (st !== undefined) rows.push(['Statements per lifecycle (run_created + 5 events)', f(st, 1), `anchor ${f(s.anchor?.perLifecycle?.statements, 1)}`, null, '≤ 7', st <= 7]);
  }
  const i = r.scenarios.idle;
  if (i?.ours && !i.ours.error) {
    rows.push(['Idle statements/s, one started World', f(i.ours.statementsPerSec, 2), `anchor ${f(i.anchor?.statementsPerSec, 1)}`, null, '≤ 1 /s', i.ours.statementsPerSec <= 1]);
    rows.push(['Idle connections held', f(i.ours.connectionsMax), `anchor ${f(i.anchor?.connectionsMax)}`, null, '≤ 3', i.ours.connectionsMax <= 3]);
  }
  const g = r.scenarios.growth?.ours;
  if (g?.byRows) {
    const scales = Object.keys(g.byRows).map(Number).sort((a, b) => a - b);
    const lo = g.byRows[scales[0]];
    const hi = g.byRows[scales.at(-1)];
    for (const [k, label] of [['runsList', 'runs.list'], ['eventsList', 'events.list'], ['stepsGet', 'steps.get']]) {
      const ratio = hi[k].p50 / lo[k].p50;
      rows.push([`Growth ${label} p50 at ${f(scales.at(-1))} vs ${f(scales[0])} events`, `${ms(hi[k].p50)} ms`, `${ms(lo[k].p50)} ms`, ratio, '≤ 2×', ratio <= 2]);
    }
  }
  const st = r.scenarios.streams;
  if (st?.ours && !st.ours.error && st.anchor && !st.anchor.error) {
    const o = st.ours;
    const a = st.anchor;
    rows.push(['Streams live write→read p50', `${ms(o.live.p50)} ms`, `${ms(a.live.p50)} ms`, o.live.p50 / a.live.p50, '≤ 1× anchor', o.live.p50 <= a.live.p50]);
    rows.push(['Streams live write→read p99', `${ms(o.live.p99)} ms`, `${ms(a.live.p99)} ms`, null, '≤ 5 ms', o.live.p99 <= 5]);
    rows.push(['Streams burst chunks/s (writeToStreamMulti)', f(o.burst.chunksPerSec), f(a.burst.chunksPerSec), o.burst.chunksPerSec / a.burst.chunksPerSec, '≥ 2×', o.burst.chunksPerSec >= 2 * a.burst.chunksPerSec]);
    rows.push(['Streams burst write→read p99', `${ms(o.burst.p99)} ms`, `${ms(a.burst.p99)} ms`, o.burst.p99 / a.burst.p99, '≤ 0.5×', o.burst.p99 <= 0.5 * a.burst.p99]);
    rows.push(['Streams 20 MiB write MiB/s', f(o.big.writeMiBps, 1), f(a.big.writeMiBps, 1), o.big.writeMiBps / a.big.writeMiBps, '≥ 2×', o.big.writeMiBps >= 2 * a.big.writeMiBps]);
    rows.push(['Streams reader peak RSS growth (20 MiB)', `${f(o.big.readerRssGrowthMiB, 1)} MiB`, `${f(a.big.readerRssGrowthMiB, 1)} MiB`, null, '≤ 16 MiB', o.big.readerRssGrowthMiB <= 16]);
  }
  const e = r.scenarios.e2e;
  if (e?.ours && !e.ours.error && e.anchor && !e.anchor.error) {
    for (const [k, label] of [['sequential', 'sequential'], ['fanout', 'fan-out']]) {
      const o = e.ours[k];
      const a = e.anchor[k];
      if (!o || !a) continue;
      rows.push([`E2E completed steps/s, ${label}`, f(o.stepsPerSec, 1), f(a.stepsPerSec, 1), o.stepsPerSec / a.stepsPerSec, '≥ 3×', o.stepsPerSec >= 3 * a.stepsPerSec]);
      rows.push([`E2E run start→complete p50, ${label}`, `${ms(o.runP50)} ms`, `${ms(a.runP50)} ms`, o.runP50 / a.runP50, '≤ 0.33×', o.runP50 <= a.runP50 / 3]);
    }
    if (e.ours.commitsPerStep !== undefined) rows.push(['E2E Postgres commits per completed step', f(e.ours.commitsPerStep, 1), `anchor ${f(e.anchor.commitsPerStep, 1)}`, null, '≤ 6', e.ours.commitsPerStep <= 6]);
  }
  return rows;
}

export function renderMarkdown(r) {
  const m = r.meta;
  const L = [];
  L.push('# Benchmark results', '');
  L.push(`${m.quick ? '**Quick run (smoke only, numbers meaningless).** ' : ''}${m.date.slice(0, 16).replace('T', ' ')} UTC · commit ${m.commit} · ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB · Node ${m.node} · ${m.postgres.version.split(' on ')[0]} (shared_buffers ${m.postgres.settings.shared_buffers ?? '?'} × 8 kB, synchronous_commit ${m.postgres.settings.synchronous_commit ?? '?'}) · load average ${m.loadAvgAtStart.join(' ')} → ${m.loadAvgAtEnd?.join(' ') ?? '?'} · ${m.elapsedSec} s in all.`);
  L.push('');
  L.push('Contestants: **this World** (`dist/`), **world-postgres 4.3.7** (the anchor, `@workflow/world-postgres`), **raw postgres.js** (one data-modifying statement per event, prepared, autocommit: what a perfect adapter would send) and **pgbench** single-row INSERT. Each on its own database of the same server. Shared, noisy machine: compare ratios within this run, not absolute numbers across runs.');
  L.push('');
  const rows = targetRows(r);
  if (rows.length) {
    L.push('## Targets', '', '| Target | This World | Reference | Ratio | Goal | Status |', '|---|---:|---:|---:|---|---|');
    for (const [label, ours, ref, ratio, goal, met] of rows) L.push(`| ${label} | ${ours} | ${ref} | ${ratio === null ? '' : x(ratio)} | ${goal} | ${ok(met)} |`);
    L.push('');
  }

  const s = r.scenarios.storage;
  if (s) {
    const steps = s.ours?.steps ?? s.anchor?.steps ?? 3;
    L.push(`## 1. Storage: events.create run lifecycles`, '');
    L.push(`Each lifecycle: run_created, run_started, ${steps} × (step_created, step_started, step_completed), run_completed = ${3 + 3 * steps} events, 96-byte inputs. C clients run lifecycles back to back in one process (pool 16). Median of ${m.plan.storage.reps} repetitions of ${m.plan.storage.ms / 1000} s (± half the min–max spread); latency per events.create call.`, '');
    L.push('| Contestant | Clients | Events/s | p50 ms | p99 ms | Client CPU ms/event | PostgreSQL CPU ms/event |', '|---|---:|---:|---:|---:|---:|---:|');
    for (const t of ['ours', 'anchor', 'raw']) {
      if (!s[t] || s[t].error) { L.push(`| ${NAMES[t]} | | ${s[t]?.error ?? 'not run'} | | |`); continue; }
      for (const c of Object.keys(s[t].byClients)) {
        const ev = storageAgg(s, t, c, 'eventsPerSec');
        L.push(`| ${NAMES[t]} | ${c} | ${f(ev.median)}${spread(ev)} | ${ms(storageAgg(s, t, c, 'p50').median)} | ${ms(storageAgg(s, t, c, 'p99').median)} | ${f(storageAgg(s, t, c, 'clientCpuMsPerEvent').median, 3)} | ${f(storageAgg(s, t, c, 'serverCpuMsPerEvent').median, 3)} |`);
      }
    }
    if (s.pgbench?.byClients) {
      for (const c of Object.keys(s.pgbench.byClients)) {
        const tps = storageAgg(s, 'pgbench', c, 'tps');
        L.push(`| ${NAMES.pgbench} (tps) | ${c} | ${f(tps.median)}${spread(tps)} | ${ms(storageAgg(s, 'pgbench', c, 'latencyAvgMs').median)} (avg) | | | |`);
      }
    } else if (s.pgbench) L.push(`| ${NAMES.pgbench} | | ${s.pgbench.skipped ?? s.pgbench.error} | | |`);
    L.push('');
    L.push('Per lifecycle with one step (run_created + 5 events), counted by a loopback proxy (statements = Execute/Query messages, round trips = Sync/Query) and `pg_stat_database` (commits, rows inserted + updated + deleted):', '');
    L.push('| Contestant | Statements | Round trips | Commits | Rows written |', '|---|---:|---:|---:|---:|');
    for (const t of ['ours', 'anchor', 'raw']) {
      const p = s[t]?.perLifecycle;
      if (p) L.push(`| ${NAMES[t]} | ${f(p.statements, 1)} | ${f(p.roundTrips, 1)} | ${f(p.commits, 1)} | ${f(p.rowsWritten, 1)} |`);
    }
    L.push('');
  }

  const i = r.scenarios.idle;
  if (i) {
    L.push('## 4. Idle cost', '');
    L.push(`A started World (queue handlers registered, nothing queued), measured for ${m.plan.idle.seconds} s after ${m.plan.idle.settleMs / 1000} s of settling. Statements through the counting proxy; commits from pg_stat_database; connections from pg_stat_activity.`, '');
    L.push('| Contestant | Statements/s | Transactions/s | Connections | Statements seen |', '|---|---:|---:|---:|---|');
    for (const t of ['ours', 'anchor']) {
      const v = i[t];
      if (!v || v.error) { L.push(`| ${NAMES[t]} | ${v?.error ?? 'not run'} | | | |`); continue; }
      const top = (v.topStatements ?? []).map((q) => `${f(q.perSec, 2)}/s \`${q.text.slice(0, 70).replace(/\|/g, '\\|')}…\``).join('<br>');
      L.push(`| ${NAMES[t]} | ${f(v.statementsPerSec, 2)} | ${f(v.transactionsPerSec, 2)} | ${v.connectionsMax} | ${top} |`);
    }
    L.push('');
  }

  const g = r.scenarios.growth;
  if (g) {
    L.push('## 5. Growth', '');
    L.push('Rows bulk-loaded (INSERT … SELECT generate_series, cloned from a lifecycle written by the World itself; then VACUUM ANALYZE); N = rows in the events table, runs and steps N/6 each. p50 (p99) ms of one client, random run each call; runs.list = first page of 20.', '');
    const scales = [...new Set(Object.values(g).flatMap((v) => Object.keys(v?.byRows ?? {})))].map(Number).sort((a, b) => a - b);
    L.push(`| Contestant | Call | ${scales.map((n) => f(n)).join(' | ')} | ${f(scales.at(-1))} / ${f(scales[0])} |`, `|---|---|${scales.map(() => '---:|').join('')}---:|`);
    for (const t of ['ours', 'anchor']) {
      const v = g[t];
      if (!v || v.error) { L.push(`| ${NAMES[t]} | ${v?.error ?? 'not run'} |`); continue; }
      for (const [k, label] of [['runsList', 'runs.list'], ['eventsList', 'events.list'], ['stepsGet', 'steps.get']]) {
        const cells = scales.map((n) => (v.byRows[n] ? `${ms(v.byRows[n][k].p50)} (${ms(v.byRows[n][k].p99)})` : '–'));
        const ratio = v.byRows[scales.at(-1)]?.[k].p50 / v.byRows[scales[0]]?.[k].p50;
        L.push(`| ${NAMES[t]} | ${label} | ${cells.join(' | ')} | ${x(ratio)} |`);
      }
      L.push(`| ${NAMES[t]} | load time s | ${scales.map((n) => (v.byRows[n] ? f(v.byRows[n].loadMs / 1000, 1) : '–')).join(' | ')} | |`);
    }
    L.push('');
  }

  const st = r.scenarios.streams;
  if (st) {
    L.push('## 3. Streams', '');
    L.push('Live: one writer, one reader in another process, writes spaced 20 ms apart; burst: writeToStreamMulti batches with a live reader; big: a 20 MiB stream in 64 KiB chunks, read back by a fresh process whose peak RSS growth is reported.', '');
    L.push('| Contestant | Live p50 / p99 ms | Burst chunks/s | Burst write→read p50 / p99 ms | 20 MiB write MiB/s | 20 MiB read MiB/s | Reader RSS growth MiB |', '|---|---:|---:|---:|---:|---:|---:|');
    for (const t of ['ours', 'anchor']) {
      const v = st[t];
      if (!v || v.error) { L.push(`| ${NAMES[t]} | ${v?.error ?? 'not run'} | | | | | |`); continue; }
      L.push(`| ${NAMES[t]} | ${ms(v.live.p50)} / ${ms(v.live.p99)} | ${f(v.burst.chunksPerSec)} | ${ms(v.burst.p50)} / ${ms(v.burst.p99)} | ${f(v.big.writeMiBps, 1)} | ${f(v.big.readMiBps, 1)} | ${f(v.big.readerRssGrowthMiB, 1)} |`);
    }
    L.push('');
  }

  const e = r.scenarios.e2e;
  if (e) {
    L.push('## 2. End to end (workflow@4.8.9 runtime)', '');
    if (e.error) L.push(`Not measured: ${e.error}`, '');
    if (e.description) L.push(e.description, '');
    const rowsE = [];
    for (const t of ['ours', ...(e['ours-otel'] ? ['ours-otel'] : []), 'anchor']) {
      const v = e[t];
      if (!v || v.error) { rowsE.push(`| ${NAMES[t]} | ${v?.error ?? 'not run'} | | | | | |`); continue; }
      for (const k of ['sequential', 'fanout']) {
        const w = v[k];
        if (!w) continue;
        rowsE.push(`| ${NAMES[t]} | ${k} | ${f(w.stepsPerSec, 1)}${w.stepsPerSecSpread ? ` ±${f((w.stepsPerSecSpread * 100) / 2)}%` : ''} | ${ms(w.runP50)} / ${ms(w.runP99)} | ${ms(w.wakeP50)} / ${ms(w.wakeP99)} | ${k === 'sequential' ? f(v.commitsPerStep, 1) : ''} | ${f(w.cpuMsPerStep, 1)} | ${f(w.pgCpuMsPerStep, 1)} |`);
      }
    }
    if (rowsE.length) {
      L.push('| Contestant | Shape | Completed steps/s | Run start→complete p50 / p99 ms | Queue wake-up p50 / p99 ms | Commits per step | App server CPU ms/step | PostgreSQL CPU ms/step |', '|---|---|---:|---:|---:|---:|---:|---:|', ...rowsE, '');
    }
    for (const t of ['ours', 'anchor']) {
      const list = e[t]?.statementsByText;
      if (!list?.length) continue;
      L.push(`<details><summary>${NAMES[t]}: statements per completed step in the counting pass (top ${list.length})</summary>`, '', '| Per step | Statement |', '|---:|---|');
      for (const q of list) L.push(`| ${f(q.perStep, 2)} | \`${q.text.replace(/\|/g, '\\|')}\` |`);
      L.push('', '</details>', '');
    }
    if (e.profile) {
      L.push(`CPU profile of this World's app server over one sequential and one fan-out batch (${e.profile.stepsProfiled} steps; V8 sampling profiler through node:inspector, i.e. the \`--cpu-prof\` format, started after warm-up): ${f(e.profile.cpuMsPerStep, 1)} ms CPU per step, of which this World ${f(e.profile.worldMsPerStep, 2)} ms and the workflow runtime ${f(e.profile.runtimeMsPerStep, 2)} ms (self time by owner; native and node-internal time is shared by both).`, '');
      L.push('| Owner | Share of busy CPU |', '|---|---:|');
      for (const [k, v] of Object.entries(e.profile.shares)) L.push(`| ${k} | ${f(v * 100, 1)}% |`);
      L.push('');
    }
  }
  if (r.errors?.length) {
    L.push('## Errors', '', ...r.errors.map((e) => `- ${e.step}: ${e.message.split('\n')[0]}`), '');
  }
  return `${L.join('\n')}\n`;
}

/** Events/s against clients for each contestant (and pgbench tps), log-2 x axis. */
export function renderSvg(r) {
  const s = r.scenarios.storage;
  if (!s) return null;
  const series = [];
  const colors = { ours: '#1f77b4', anchor: '#d62728', raw: '#2ca02c', pgbench: '#7f7f7f' };
  for (const t of ['ours', 'anchor', 'raw', 'pgbench']) {
    const by = s[t]?.byClients;
    if (!by) continue;
    const field = t === 'pgbench' ? 'tps' : 'eventsPerSec';
    const pts = Object.keys(by).map(Number).sort((a, b) => a - b).map((c) => ({ c, v: storageAgg(s, t, c, field) }));
    series.push({ t, pts });
  }
  if (!series.length) return null;
  const W = 680, H = 400, ml = 70, mr = 170, mt = 40, mb = 50;
  const cs = [...new Set(series.flatMap((se) => se.pts.map((p) => p.c)))].sort((a, b) => a - b);
  const maxV = Math.max(...series.flatMap((se) => se.pts.map((p) => p.v.max ?? 0)));
  const step = niceStep(maxV / 5);
  const top = Math.ceil(maxV / step) * step || 1;
  const lx = (c) => ml + (cs.length === 1 ? 0 : ((Math.log2(c) - Math.log2(cs[0])) / (Math.log2(cs.at(-1)) - Math.log2(cs[0]))) * (W - ml - mr));
  const ly = (v) => H - mb - (v / top) * (H - mt - mb);
  const o = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="12">`);
  o.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  o.push(`<text x="${ml}" y="22" font-size="14" font-weight="600">events.create throughput by concurrent clients (median, min–max bars)</text>`);
  for (let v = 0; v <= top + 1e-9; v += step) {
    o.push(`<line x1="${ml}" x2="${W - mr}" y1="${ly(v).toFixed(1)}" y2="${ly(v).toFixed(1)}" stroke="#e5e5e5"/>`);
    o.push(`<text x="${ml - 6}" y="${(ly(v) + 4).toFixed(1)}" text-anchor="end" fill="#555">${f(v)}</text>`);
  }
  for (const c of cs) o.push(`<text x="${lx(c).toFixed(1)}" y="${H - mb + 18}" text-anchor="middle" fill="#555">${c}</text>`);
  o.push(`<text x="${(ml + W - mr) / 2}" y="${H - 12}" text-anchor="middle" fill="#333">concurrent clients</text>`);
  o.push(`<text transform="translate(16 ${(mt + H - mb) / 2}) rotate(-90)" text-anchor="middle" fill="#333">events/s (pgbench: tps)</text>`);
  o.push(`<line x1="${ml}" x2="${ml}" y1="${mt}" y2="${H - mb}" stroke="#999"/><line x1="${ml}" x2="${W - mr}" y1="${H - mb}" y2="${H - mb}" stroke="#999"/>`);
  series.forEach((se, k) => {
    const col = colors[se.t];
    const d = se.pts.map((p, j) => `${j ? 'L' : 'M'}${lx(p.c).toFixed(1)},${ly(p.v.median).toFixed(1)}`).join(' ');
    o.push(`<path d="${d}" fill="none" stroke="${col}" stroke-width="2"${se.t === 'pgbench' ? ' stroke-dasharray="6 4"' : ''}/>`);
    for (const p of se.pts) {
      o.push(`<line x1="${lx(p.c).toFixed(1)}" x2="${lx(p.c).toFixed(1)}" y1="${ly(p.v.min).toFixed(1)}" y2="${ly(p.v.max).toFixed(1)}" stroke="${col}" stroke-width="1"/>`);
      o.push(`<circle cx="${lx(p.c).toFixed(1)}" cy="${ly(p.v.median).toFixed(1)}" r="3.5" fill="${col}"><title>${NAMES[se.t]}, ${p.c} clients: ${f(p.v.median)}</title></circle>`);
    }
    const y = mt + 10 + k * 20;
    o.push(`<line x1="${W - mr + 14}" x2="${W - mr + 38}" y1="${y}" y2="${y}" stroke="${col}" stroke-width="2"${se.t === 'pgbench' ? ' stroke-dasharray="6 4"' : ''}/>`);
    o.push(`<text x="${W - mr + 44}" y="${y + 4}">${NAMES[se.t]}</text>`);
  });
  o.push(`<text x="${W - mr + 14}" y="${H - mb}" fill="#777" font-size="11">${r.meta.date.slice(0, 10)}, ${r.meta.cores} cores</text>`);
  o.push('</svg>');
  return `${o.join('\n')}\n`;
}

function niceStep(raw) {
  if (!(raw > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (raw <= m * p) return m * p;
  return 10 * p;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), 'results', 'latest.json');
  const r = JSON.parse(readFileSync(file, 'utf8'));
  writeFileSync(path.join(path.dirname(file), 'latest.md'), renderMarkdown(r));
  const svg = renderSvg(r);
  if (svg) writeFileSync(path.join(path.dirname(file), 'storage-scaling.svg'), svg);
}
