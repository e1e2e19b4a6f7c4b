import { type OpRun, ValidationError } from '@gyoza/domain';
import type { RunPage } from './ports';

/** Position after the last run of a page, in the list order (created_at desc, id desc). */
export interface RunCursor {
  created_at: Date;
  id: string;
}

export function encodeRunCursor(cursor: RunCursor): string {
  return Buffer.from(JSON.stringify([cursor.created_at.getTime(), cursor.id])).toString('base64url');
}

/** The largest distance from the epoch a `Date` can hold, in milliseconds (ECMA-262 §21.4.1.22). */
const MAX_DATE_MS = 8.64e15;

/**
 * A cursor is checked as thoroughly as any input: a time no `Date` can hold (a MongoDB
 * driver refuses it) or an id no run can have is a cursor this server did not make.
 */
export function decodeRunCursor(cursor: string): RunCursor {
  try {
    const [ms, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Number.isSafeInteger(ms) && Math.abs(ms) <= MAX_DATE_MS && typeof id === 'string') {
      return { created_at: new Date(ms), id };
    }
  } catch {
    // fall through to the validation error
  }
  throw ValidationError.field('cursor', 'is not a cursor returned by this server');
}

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

export function pageSize(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(limit) || limit < 1) throw ValidationError.field('limit', 'must be a positive integer');
  return Math.min(limit, MAX_PAGE_SIZE);
}

/** Run states as a list, whether the query gave one state or several. */
export function statesOf(state: string | string[] | undefined): string[] | undefined {
  if (state === undefined) return undefined;
  return Array.isArray(state) ? state : [state];
}

/**
 * A page from rows read with `LIMIT limit + 1`: the extra row only says another page
 * exists, and the cursor points after the last row shown.
 */
export function runPage(rows: OpRun[], limit: number): RunPage {
  const runs = rows.slice(0, limit);
  if (rows.length <= limit) return { runs };
  const last = runs[runs.length - 1];
  return { runs, next_cursor: encodeRunCursor({ created_at: last.created_at, id: last.id }) };
}
