import type { Event, PaginatedResponse, ResolveData } from '@workflow/world';
import { stripEventDataRefs } from '@workflow/world';
import { toPage } from '../shared/pagination.js';
import { toEvent, type EventRow } from './entities.js';

/**
 * A page of events, for events.list and the log that run_started preloads: one decoding path and
 * one cursor format, so a cursor from either continues the other.
 */
export const eventPage = (rows: EventRow[], limit: number, resolve: ResolveData): PaginatedResponse<Event> =>
  toPage(rows, limit, 'e', (r) => String(r.id), (r) => stripEventDataRefs(toEvent(r), resolve));
