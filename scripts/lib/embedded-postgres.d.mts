// Types for embedded-postgres.mjs, which the TypeScript test harness imports.
export function startEmbeddedPostgres(options: {
  baseDir: string;
  preferredPort?: number;
  log?: (message: string) => void;
}): Promise<{ url: string; stop(): Promise<void> }>;
export function stopEmbeddedPostgres(options: { baseDir: string }): Promise<void>;
