import { z } from 'zod';
import { worldErrors } from '../errors.js';
import { formatIssues } from '../validation.js';

/**
 * Boundary validation of read parameters: a malformed call is a 400 naming the field, never a
 * database error or a silently ignored option.
 */
const id = z.string().min(1).max(1_000);
const resolveData = z.enum(['none', 'all']).optional();
const pagination = z
  .object({
    limit: z.number().finite().optional(),
    cursor: z.string().nullish(),
    sortOrder: z.enum(['asc', 'desc']).optional(),
  })
  .optional();

export const ReadSchemas = {
  get: z.object({ resolveData }).optional(),
  id,
  listRuns: z
    .object({
      workflowName: z.string().optional(),
      status: z.enum(['pending', 'running', 'completed', 'failed', 'cancelled']).optional(),
      pagination,
      resolveData,
    })
    .optional(),
  listSteps: z.object({ runId: id, pagination, resolveData }),
  listHooks: z.object({ runId: id.optional(), pagination, resolveData }),
  listEvents: z.object({ runId: id, pagination, resolveData }),
  listByCorrelationId: z.object({ correlationId: id, runId: id.optional(), pagination, resolveData }),
};

export function validate<T>(schema: z.ZodType<T>, value: unknown, what: string): void {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw worldErrors.badRequest(`invalid ${what} parameters: ${formatIssues(parsed.error)}`);
}
