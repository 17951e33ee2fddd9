// Summarises a V8 .cpuprofile (node --cpu-prof) by owner of the code: self time of every
// sampled function, attributed by its script URL. "Busy" excludes (idle).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Ordered rules: first match wins. `rules` may be extended by the caller. */
export const DEFAULT_OWNERS = [
  ['(idle)', (u, n) => n === '(idle)'],
  // the inspector's own dispatch of Profiler.start/stop (logging existing code at start)
  ['(profiler)', (u, n) => n === 'dispatch' && u === ''],
  ['garbage collection', (u, n) => n === '(garbage collector)'],
  ['this World', (u) => u.includes(`${ROOT}/dist/`)],
  ['anchor (@workflow/world-postgres + drizzle + pg + graphile-worker)', (u) => /@workflow\/world-postgres\/|\/drizzle-orm\/|\/node_modules\/pg[-/]|\/pg-protocol\/|\/pg-pool\/|\/graphile-worker\/|\/@graphile\//.test(u)],
  ['postgres.js driver', (u) => /\/node_modules\/postgres\//.test(u)],
  ['zod', (u) => /\/node_modules\/zod\//.test(u)],
  ['cbor-x', (u) => /\/node_modules\/cbor-x\//.test(u)],
  ['workflow runtime (app bundle, @workflow/core, devalue…)', (u) => /\.well-known\/workflow\/|@workflow\/|\/devalue\/|\/node_modules\/workflow\//.test(u)],
  ['bench harness', (u) => /\/bench\//.test(u)],
  ['node: http, streams, timers, fetch (undici)', (u) => /^node:|internal\/|undici/.test(u)],
  ['other modules', (u) => /node_modules/.test(u)],
  ['V8/native (program, builtins)', () => true],
];

export function summarizeProfile(file, owners = DEFAULT_OWNERS) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map();
  for (let i = 0; i < prof.samples.length; i++) {
    const id = prof.samples[i];
    self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
  }
  const byOwner = {};
  const byFunction = new Map();
  let total = 0;
  for (const [id, us] of self) {
    const n = byId.get(id);
    const url = n.callFrame.url || '';
    const name = n.callFrame.functionName || '(anonymous)';
    const owner = owners.find(([, test]) => test(url, name))[0];
    byOwner[owner] = (byOwner[owner] ?? 0) + us;
    total += us;
    if (!owner.startsWith('(')) {
      const key = `${owner} · ${name} ${url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber + 1}`;
      byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    }
  }
  const idle = (byOwner['(idle)'] ?? 0) + (byOwner['(profiler)'] ?? 0);
  const busy = total - idle;
  const shares = {};
  for (const [k, v] of Object.entries(byOwner).sort((a, b) => b[1] - a[1])) if (!k.startsWith('(')) shares[k] = v / busy;
  const top = [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([k, v]) => ({ fn: k, share: v / busy }));
  return { totalMs: total / 1000, busyMs: busy / 1000, idleMs: idle / 1000, shares, top };
}
