import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { expect, test } from 'vitest';

/**
 * Imports flow one way (README.md, Code map): index → storage / queue / streamer → shared → db →
 * the base modules. A layer may import itself and what is listed for it, nothing else.
 */
const ALLOWED: Record<string, string[]> = {
  base: ['base'],
  db: ['db', 'base'],
  shared: ['shared', 'db', 'base'],
  storage: ['storage', 'shared', 'db', 'base'],
  queue: ['queue', 'shared', 'db', 'base'],
  streamer: ['streamer', 'shared', 'db', 'base'],
  retention: ['db', 'base'],
  health: ['queue', 'db', 'base'],
  cli: ['cli', 'index', 'health', 'queue', 'db', 'base'],
  index: ['storage', 'queue', 'streamer', 'retention', 'health', 'shared', 'db', 'base'],
};

const src = resolve(import.meta.dirname, '../../src');

function layerOf(file: string): string {
  const rel = relative(src, file);
  const [top] = rel.split('/');
  if (rel === 'index.ts') return 'index';
  if (rel === 'retention.ts') return 'retention';
  if (rel === 'health.ts') return 'health';
  return rel.includes('/') ? top! : 'base';
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

test('src/ imports flow one way: storage, queue and streamer never import each other, shared and db import nothing above them', () => {
  const violations: string[] = [];
  let edges = 0;
  for (const file of sources(src)) {
    const from = layerOf(file);
    for (const m of readFileSync(file, 'utf8').matchAll(/from '(\.{1,2}\/[^']+)'/g)) {
      const target = resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts'));
      const to = layerOf(target);
      edges++;
      if (!ALLOWED[from]!.includes(to)) violations.push(`${relative(src, file)} (${from}) imports ${relative(src, target)} (${to})`);
    }
  }
  expect(edges).toBeGreaterThan(100);
  expect(violations).toEqual([]);
});
