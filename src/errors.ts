import {
  EntityConflictError,
  HookNotFoundError,
  PreconditionFailedError,
  RunExpiredError,
  RunNotSupportedError,
  TooEarlyError,
  WorkflowRunNotFoundError,
  WorkflowWorldError,
} from '@workflow/errors';

/**
 * Errors of this package that are not part of the World contract: configuration, migrations,
 * the CLI and leases. World methods throw the `@workflow/errors` classes instead (the runtime
 * matches those by `name`), built by the helpers at the bottom of this file.
 */
export type WorldPgErrorCode =
  | 'CONFIG_INVALID'
  | 'CONFIG_MISSING'
  | 'MIGRATION_PENDING'
  | 'MIGRATION_CHANGED'
  | 'MIGRATION_FAILED'
  | 'AUTH_FAILED'
  | 'DATABASE_NOT_FOUND'
  | 'CLOSED';

const STATUS: Record<WorldPgErrorCode, number> = {
  CONFIG_INVALID: 500,
  CONFIG_MISSING: 500,
  MIGRATION_PENDING: 503,
  MIGRATION_CHANGED: 500,
  MIGRATION_FAILED: 500,
  AUTH_FAILED: 500,
  DATABASE_NOT_FOUND: 500,
  CLOSED: 503,
};

export class WorldPgError extends Error {
  override readonly name: string = 'WorldPgError';
  readonly code: WorldPgErrorCode;
  readonly status: number;
  constructor(code: WorldPgErrorCode, message: string, options?: { cause?: unknown }) {
    super(`[workflow-world-postgres] ${message}`, options);
    this.code = code;
    this.status = STATUS[code];
  }
  /** Checks the name, not the prototype, so it works across duplicate installs. */
  static is(value: unknown): value is WorldPgError {
    const v = value as { name?: unknown; code?: unknown } | null;
    return typeof v?.name === 'string' && v.name.startsWith('WorldPg') && typeof v.code === 'string';
  }
}

export class WorldPgConfigError extends WorldPgError {
  override readonly name = 'WorldPgConfigError';
}

export class WorldPgMigrationError extends WorldPgError {
  override readonly name = 'WorldPgMigrationError';
}

/** The server refused the connection for a reason that retrying does not fix. */
export class WorldPgConnectionError extends WorldPgError {
  override readonly name = 'WorldPgConnectionError';
  /** What to do about it. */
  readonly hint: string;
  constructor(code: 'AUTH_FAILED' | 'DATABASE_NOT_FOUND', message: string, hint: string, options?: { cause?: unknown }) {
    super(code, `${message}; ${hint}`, options);
    this.hint = hint;
  }
}

// The @workflow/errors constructors leave `status` unset on some classes; we set the
// conventional HTTP status so HTTP-facing callers can map them, the runtime ignores it.
function withStatus<E extends Error>(error: E, status: number): E {
  (error as E & { status?: number }).status = status;
  return error;
}

export const worldErrors = {
  badRequest: (message: string, cause?: unknown) =>
    new WorkflowWorldError(message, { status: 400, ...(cause ? { cause } : {}) }),
  notFound: (message: string) => new WorkflowWorldError(message, { status: 404 }),
  unavailable: (message: string, cause?: unknown) =>
    new WorkflowWorldError(message, { status: 503, code: 'TRANSPORT', ...(cause ? { cause } : {}) }),
  conflict: (message: string) => withStatus(new EntityConflictError(message), 409),
  runExpired: (message: string) => withStatus(new RunExpiredError(message), 410),
  runNotFound: (runId: string) => withStatus(new WorkflowRunNotFoundError(runId), 404),
  hookNotFound: (tokenOrId: string) => withStatus(new HookNotFoundError(tokenOrId), 404),
  tooEarly: (message: string, retryAfter: number) =>
    withStatus(new TooEarlyError(message, { retryAfter }), 425),
  preconditionFailed: (message: string) => new PreconditionFailedError(message),
  runNotSupported: (runSpecVersion: number, worldSpecVersion: number) =>
    withStatus(new RunNotSupportedError(runSpecVersion, worldSpecVersion), 400),
};
