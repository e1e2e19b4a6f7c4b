import { isRunFinal } from '@gyoza/domain';
import type { Request, Response } from 'express';
import { READ_CHUNK } from '../pages';
import type { ApiContext } from '../route';
import { eventJson } from '../serialize';

const POLL_MS = 200;
const KEEPALIVE_MS = 15_000;

/** The event types that end an attempt: a stream ends after the one of the run's last attempt. */
const ENDINGS = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);
/** How long a final run's ending event may be missing (MongoDB inserts it just after the run) before the stream ends anyway. */
const ENDING_WAIT_MS = 10_000;

/**
 * Server-Sent Events for one run. Events come from the store (so a stream on one server
 * process sees events written through another); each carries its index as `id`, so a
 * client reconnecting with Last-Event-ID misses nothing. The stream ends once the run is
 * final (not a FAILED run whose retry is scheduled) and the event that ended its last
 * attempt has been sent (it may be committed just after the run itself). A client that does
 * not read holds the stream back, not the server's memory: writes wait for the socket to drain.
 */
export async function streamEvents(req: Request, res: Response, ctx: ApiContext, runId: string, after: number) {
  res.status(200).set({
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-store',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.flushHeaders();
  // Ends when the client leaves or the server shuts down.
  let closed = ctx.shutdown.aborted;
  const gone = new Promise<void>((resolve) => {
    const end = () => {
      closed = true;
      ctx.shutdown.removeEventListener('abort', end);
      resolve();
    };
    req.once('close', end);
    ctx.shutdown.addEventListener('abort', end, { once: true });
  });
  let last = after;
  let lastWrite = Date.now();
  /** The attempt whose ending event was sent last (or, resuming, was the last one before `after`). */
  let endedAttempt = after > 0 ? await endingAt(ctx, runId, after) : undefined;
  let finalSince: number | undefined;
  while (!closed) {
    // A chunk at a time: a run's events may be large (LOG text, INFO payloads), and a read of
    // a thousand of them would be held in memory at once.
    const events = await ctx.store.runs.listEvents(runId, { after: last, limit: READ_CHUNK });
    for (const event of events) {
      if (closed) break;
      const fits = res.write(`id: ${event.index}\nevent: ${event.type}\ndata: ${JSON.stringify(eventJson(event))}\n\n`);
      last = event.index;
      if (ENDINGS.has(event.type)) endedAttempt = event.attempt;
      lastWrite = Date.now();
      if (!fits) await Promise.race([new Promise((resolve) => res.once('drain', resolve)), gone]);
    }
    if (events.length === 0) {
      const run = await ctx.store.runs.getRun(runId);
      if (!run) break;
      if (isRunFinal(run)) {
        if (endedAttempt === run.current_attempt) break;
        finalSince ??= Date.now();
        if (Date.now() - finalSince >= ENDING_WAIT_MS) break;
      } else finalSince = undefined;
      if (Date.now() - lastWrite >= KEEPALIVE_MS) {
        res.write(': keep-alive\n\n');
        lastWrite = Date.now();
      }
      await Promise.race([new Promise((resolve) => setTimeout(resolve, POLL_MS)), gone]);
    }
  }
  res.end();
}

/** The attempt that event `index` ended, when it is an ending event. */
async function endingAt(ctx: ApiContext, runId: string, index: number): Promise<number | undefined> {
  const [event] = await ctx.store.runs.listEvents(runId, { after: index - 1, limit: 1 });
  return event && event.index === index && ENDINGS.has(event.type) ? event.attempt : undefined;
}
