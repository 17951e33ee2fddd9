import { DEADLINE_CODE } from './deadline.js';

/**
 * SQLSTATE and driver codes the World reacts to. Matched by code, never by message text.
 */
/** The server rolled the statement back; running it again is always safe. */
const ROLLED_BACK_CODES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '53300', // too_many_connections
  '57014', // query_canceled (statement timeout)
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
]);

/** The connection failed; a write may or may not have committed before the reply was lost. */
const CONNECTION_CODES = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  DEADLINE_CODE, // deadline.ts: the statement may still run or have run
]);

/** The connection was refused before anything was sent: safe to retry any statement. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'CONNECT_TIMEOUT', 'ENOTFOUND', 'EAI_AGAIN', '53300', '57P03']);

export const UNIQUE_VIOLATION = '23505';

/** The server refused the login: wrong password (28P01) or unknown or refused role (28000). */
export const AUTH_CODES = new Set(['28P01', '28000']);
/** The database of the URL does not exist. */
export const DATABASE_NOT_FOUND = '3D000';

export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function isTransient(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && (ROLLED_BACK_CODES.has(code) || CONNECTION_CODES.has(code));
}

/** Whether a failed statement can be sent again without risk of applying it twice. */
export function isSafeToRetry(error: unknown, idempotent: boolean): boolean {
  const code = errorCode(error);
  if (code === undefined) return false;
  if (idempotent) return isTransient(error);
  return ROLLED_BACK_CODES.has(code) || NOT_SENT_CODES.has(code);
}
