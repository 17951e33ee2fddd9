import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';

/**
 * Argument parsing shared by every command: an unknown option or a malformed one is a usage
 * error (exit 2, with the usage line), `--help` prints the usage and exits 0.
 */
export type Parsed<O extends ParseArgsConfig['options']> = ReturnType<typeof parseArgs<{ options: O; allowPositionals: true }>>;

export function parseCommand<O extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: O,
  usage: string,
): { parsed: Parsed<O> } | { exit: number } {
  let parsed: Parsed<O>;
  try {
    parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean' } }, allowPositionals: true }) as Parsed<O>;
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage}`);
    return { exit: 2 };
  }
  if ((parsed.values as { help?: boolean }).help) {
    console.log(usage);
    return { exit: 0 };
  }
  return { parsed };
}

/** This package's version, from the package.json above the running file (src/ or dist/). */
export function packageVersion(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'workflow-world-postgres') return pkg.version ?? 'unknown';
  }
  return 'unknown';
}
