// Types for util.mjs, which the TypeScript test harness imports.
import type { SpawnOptions } from 'node:child_process';

export function run(command: string, args: string[], options?: SpawnOptions): Promise<string>;
export function freePort(): Promise<number>;
export function isPortTaken(port: number): Promise<boolean>;
