// Types for order-app.mjs, which the TypeScript test harness imports.
import type { ChildProcess, StdioOptions } from 'node:child_process';

export const REPO_ROOT: string;
export const APP_DIR: string;
export const WORLD_ENTRY: string;
export function buildOrderApp(options?: { log?: (message: string) => void }): Promise<boolean>;
export function worldEnv(
  world: 'local' | 'postgres',
  options?: { localDataDir?: string },
): { WORKFLOW_TARGET_WORLD: string; WORKFLOW_LOCAL_DATA_DIR?: string };
export function spawnOrderApp(options: { env: NodeJS.ProcessEnv; stdio?: StdioOptions }): ChildProcess;
