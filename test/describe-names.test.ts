import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { expect, test } from 'vitest';

/** Every test file under test/ (the suite's own layout mirrors src/). */
function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'fixtures' ? [] : testFiles(path);
    return entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

test('no two describe blocks of the suite share a name, so a failure names one place', () => {
  const root = join(import.meta.dirname, '..');
  const seen = new Map<string, string>();
  const duplicates: string[] = [];
  let count = 0;
  for (const file of testFiles(join(root, 'test'))) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/\bdescribe(?:\.skipIf\([^)]*\))?\(\s*(['"`])((?:(?!\1).)+)\1/g)) {
      const name = match[2]!;
      count++;
      const where = relative(root, file);
      const earlier = seen.get(name);
      if (earlier) duplicates.push(`"${name}" in ${earlier} and ${where}`);
      else seen.set(name, where);
    }
  }
  expect(count).toBeGreaterThan(20);
  expect(duplicates).toEqual([]);
});
