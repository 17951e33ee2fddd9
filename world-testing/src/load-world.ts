import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { World } from '@workflow/world';

/**
 * Loads a World the way `@workflow/core@4.8.9`'s `createWorld()` does
 * (docs/world-contract.md §1.1–1.2): a CommonJS `require` created relative to the working
 * directory, then the module itself if it is a function, else its `default` export, else its
 * `createWorld` export, called with no arguments and used as returned (never awaited). `local` means the runtime's built-in
 * `@workflow/world-local`, built with `WORKFLOW_LOCAL_DATA_DIR` as the runtime does.
 */
export function loadWorldFactory(specifier: string, cwd: string = process.cwd()): () => World {
  const requireFromCwd = createRequire(join(cwd, 'index.js'));
  if (specifier === 'local') {
    const mod = requireWithFallback(requireFromCwd, '@workflow/world-local') as {
      createLocalWorld: (args?: { dataDir?: string }) => World;
    };
    return () => mod.createLocalWorld({ dataDir: process.env.WORKFLOW_LOCAL_DATA_DIR });
  }
  if (specifier === 'vercel' || specifier === '@workflow/world-vercel') {
    throw new Error('the Vercel World needs a deployment: this suite cannot run it');
  }
  const mod = requireFromCwd(specifier) as Record<string, unknown> | ((...args: unknown[]) => unknown);
  const pick =
    typeof mod === 'function'
      ? mod
      : typeof mod.default === 'function'
        ? mod.default
        : typeof mod.createWorld === 'function'
          ? mod.createWorld
          : undefined;
  if (!pick) {
    throw new Error(
      `Invalid target world module: ${specifier}, must export a default function or createWorld function that returns a World instance.`,
    );
  }
  const factory = pick as () => unknown;
  return () => factory() as World;
}

/** `@workflow/world-local` from the working directory, else from wherever this suite is installed. */
function requireWithFallback(requireFromCwd: NodeRequire, id: string): unknown {
  try {
    return requireFromCwd(id);
  } catch (error) {
    if ((error as { code?: string }).code !== 'MODULE_NOT_FOUND') throw error;
    return createRequire(import.meta.url)(id);
  }
}
