import type { OpRun, RunEvent } from '@gyoza/domain';
import { encodeRunCursor, type RunQuery, type Store } from '@gyoza/store';
import type { Response } from 'express';
import { eventJson, runJson } from './serialize';

/**
 * Most bytes of JSON one page of runs or events carries. A page ends early past it (holding at
 * least one item), so a page of large runs (inputs, outputs) or events (LOG text, INFO
 * payloads) can neither exhaust the heap nor block the event loop for seconds while it is
 * read and serialized; readers follow `next_cursor` (runs) or `after` (events) as usual.
 */
export const PAGE_TEXT_LIMIT = 4 * 1024 * 1024;
/** Rows read from the store at a time while a page (or an event stream) fills. */
export const READ_CHUNK = 100;

/** Items' JSON, added until the next would pass the limit (in UTF-8 bytes, as sent). */
class JsonItems {
  private readonly parts: string[] = [];
  private length = 0;

  constructor(private readonly limit: number) {}

  get count(): number {
    return this.parts.length;
  }

  /** Adds the item, or returns false (adding nothing) when it would pass the limit of a non-empty list. */
  add(value: unknown): boolean {
    const text = JSON.stringify(value);
    const bytes = Buffer.byteLength(text);
    if (this.parts.length > 0 && this.length + bytes > this.limit) return false;
    this.parts.push(text);
    this.length += bytes + 1;
    return true;
  }

  toString(): string {
    return `[${this.parts.join(',')}]`;
  }
}

function sendJson(res: Response, text: string): void {
  res.type('application/json').send(text);
}

/**
 * Answers a page of runs (`{runs, next_cursor?}`): up to `query.limit` runs, read from the
 * store in chunks, fewer when their JSON passes `textLimit`; `next_cursor` continues after the
 * last run shown.
 */
export async function sendRunPage(
  res: Response,
  store: Store,
  query: RunQuery & { limit: number },
  textLimit = PAGE_TEXT_LIMIT,
): Promise<void> {
  const items = new JsonItems(textLimit);
  let cursor = query.cursor;
  let next: string | undefined;
  fill: while (items.count < query.limit) {
    const page = await store.runs.listRuns({
      ...query,
      limit: Math.min(READ_CHUNK, query.limit - items.count),
      cursor,
    });
    let last: OpRun | undefined;
    for (const run of page.runs) {
      if (!items.add(runJson(run))) {
        next = last ? encodeRunCursor(last) : cursor;
        break fill;
      }
      last = run;
    }
    next = page.next_cursor;
    if (next === undefined) break;
    cursor = next;
  }
  sendJson(res, `{"runs":${items}${next === undefined ? '' : `,"next_cursor":${JSON.stringify(next)}`}}`);
}

/**
 * Answers a page of a run's events (`{events, state}`): those after `after`, up to 1,000,
 * fewer when their JSON passes `textLimit`; the reader asks again after the last one shown.
 */
export async function sendEventPage(
  res: Response,
  store: Store,
  run: OpRun,
  after: number | undefined,
  textLimit = PAGE_TEXT_LIMIT,
  limit = 1000,
): Promise<void> {
  const items = new JsonItems(textLimit);
  let from = after ?? 0;
  fill: while (items.count < limit) {
    const want = Math.min(READ_CHUNK, limit - items.count);
    const events: RunEvent[] = await store.runs.listEvents(run.id, { after: from, limit: want });
    for (const event of events) {
      if (!items.add(eventJson(event))) break fill;
      from = event.index;
    }
    if (events.length < want) break;
  }
  sendJson(res, `{"events":${items},"state":${JSON.stringify(run.state)}}`);
}
