import { isFinished } from '@gyoza/domain';
import type { Request, Response } from 'express';
import type { ApiContext } from '../route';
import { eventJson } from '../serialize';

const POLL_MS = 200;
const KEEPALIVE_MS = 15_000;

/**
 * Server-Sent Events for one run. Events come from the store (so a stream on one server
 * process sees events written through another); each carries its index as `id`, so a
 * client reconnecting with Last-Event-ID misses nothing. The stream ends once the run is
 * finished and every event has been sent.
 */
export async function streamEvents(req: Request, res: Response, ctx: ApiContext, runId: string, after: number) {
  res.status(200).set({
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-store',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.flushHeaders();
  let closed = false;
  req.on('close', () => {
    closed = true;
  });
  let last = after;
  let lastWrite = Date.now();
  while (!closed) {
    const events = await ctx.store.runs.listEvents(runId, { after: last });
    for (const event of events) {
      res.write(`id: ${event.index}\nevent: ${event.type}\ndata: ${JSON.stringify(eventJson(event))}\n\n`);
      last = event.index;
      lastWrite = Date.now();
    }
    if (events.length === 0) {
      const run = await ctx.store.runs.getRun(runId);
      if (!run || isFinished(run.state)) break;
      if (Date.now() - lastWrite >= KEEPALIVE_MS) {
        res.write(': keep-alive\n\n');
        lastWrite = Date.now();
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
  res.end();
}
