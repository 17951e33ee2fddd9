/**
 * The package's logger. Context carries ids (run, step, message, stream), never payloads or
 * connection strings. By default lines go to the console, starting with
 * `[workflow-world-postgres]`, or as one JSON object per line with WORKFLOW_POSTGRES_LOG_FORMAT=json;
 * `WORKFLOW_POSTGRES_LOG_LEVEL` picks the threshold (default info). An app can pass any logger
 * whose methods take `(object, message)` as pino's do (`createWorld({ logger: pino() })`): it
 * then receives every line, and filters by its own level unless WORKFLOW_POSTGRES_LOG_LEVEL is
 * set. The logger is process-wide, like the pools: the latest World built with one sets it.
 */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

export type LogContext = Record<string, string | number | boolean | undefined>;

/** What `createWorld({ logger })` accepts: pino's shape, `(object, message)`. */
export interface Logger {
  debug(context: LogContext, message: string): void;
  info(context: LogContext, message: string): void;
  warn(context: LogContext, message: string): void;
  error(context: LogContext, message: string): void;
}

type Level = Exclude<LogLevel, 'silent'>;

export type LogFormat = 'text' | 'json';

interface LogSettings {
  /** null: the default console logger again. */
  logger?: Logger | null;
  level?: LogLevel;
  format?: LogFormat;
}

const KEY = Symbol.for('workflow-world-postgres//log-settings');
const g = globalThis as { [KEY]?: LogSettings };
const settings = (): LogSettings => (g[KEY] ??= {});

/**
 * Applies a World's `logger`, `logLevel` and `logFormat` options process-wide (what is not
 * given keeps its current value; the environment variables apply where nothing was given).
 */
export function configureLogging(options: LogSettings): void {
  const current = settings();
  if (options.logger !== undefined) current.logger = options.logger;
  if (options.level !== undefined) current.level = options.level;
  if (options.format !== undefined) current.format = options.format;
}

function threshold(custom: boolean): number {
  const level = settings().level ?? (process.env.WORKFLOW_POSTGRES_LOG_LEVEL?.trim() as LogLevel | undefined);
  if (level && level in ORDER) return ORDER[level];
  return custom ? 0 : ORDER.info;
}

const defined = (context: LogContext | undefined) =>
  Object.fromEntries(Object.entries(context ?? {}).filter(([, v]) => v !== undefined)) as LogContext;

function consoleLine(level: Level, message: string, context: LogContext): void {
  const line =
    (settings().format ?? process.env.WORKFLOW_POSTGRES_LOG_FORMAT?.trim()) === 'json'
      ? JSON.stringify({ time: new Date().toISOString(), level, msg: message, name: 'workflow-world-postgres', ...context })
      : `[workflow-world-postgres] ${message}${Object.entries(context).map(([k, v]) => ` ${k}=${v}`).join('')}`;
  if (level === 'error') console.error(line);
  else if (level === 'warn') console.warn(line);
  else console.log(line);
}

function emit(level: Level, message: string, context?: LogContext): void {
  const custom = settings().logger ?? undefined;
  if (ORDER[level] < threshold(custom !== undefined)) return;
  const ctx = defined(context);
  if (!custom) return consoleLine(level, message, ctx);
  try {
    custom[level](ctx, message);
  } catch {
    consoleLine(level, message, ctx); // a logger that throws must not break the World
  }
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
