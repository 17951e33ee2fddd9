import type { z } from 'zod';

/**
 * One line per zod issue, `path: rule`, for the typed errors thrown at the package's boundaries
 * (configuration, events.create, read parameters). Rules only, never the rejected values: a
 * connection string carries a password, an event payload is the app's data.
 */
export function formatIssues(error: z.ZodError, label: (path: PropertyKey[]) => string = defaultLabel): string {
  return error.issues.map((i) => `${label(i.path)}: ${i.message}`).join('; ');
}

const defaultLabel = (path: PropertyKey[]) => path.map(String).join('.') || '(value)';
