/**
 * The package's logger. Lines start with `[workflow-world-postgres]` and carry ids as context,
 * never payloads or connection strings. `WORKFLOW_POSTGRES_LOG_LEVEL` picks the threshold.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

export type LogContext = Record<string, string | number | boolean | undefined>;

function threshold(): number {
  const level = process.env.WORKFLOW_POSTGRES_LOG_LEVEL as LogLevel | undefined;
  return ORDER[level ?? 'info'] ?? ORDER.info;
}

function emit(level: Exclude<LogLevel, 'silent'>, message: string, context?: LogContext): void {
  if (ORDER[level] < threshold()) return;
  const ctx = context
    ? ' ' + Object.entries(context).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`).join(' ')
    : '';
  const line = `[workflow-world-postgres] ${message}${ctx}`;
  if (level === 'error') console.error(line);
  else if (level === 'warn') console.warn(line);
  else console.log(line);
}

/** Reduces an unknown error to its name, code and message: driver errors may carry query text. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return `${error.name}${typeof code === 'string' ? `(${code})` : ''}: ${error.message}`;
  }
  return String(error);
}

export const log = {
  debug: (m: string, c?: LogContext) => emit('debug', m, c),
  info: (m: string, c?: LogContext) => emit('info', m, c),
  warn: (m: string, c?: LogContext) => emit('warn', m, c),
  error: (m: string, c?: LogContext) => emit('error', m, c),
};
