import type { EventJson, GyozaClient, RunJson } from '@gyoza/client';
import { stringify } from 'yaml';
import { EXIT_FAILED, EXIT_OK } from './cli-error';
import { printJson } from './context';

const BAR_WIDTH = 30;
/** Events after which no attempt is running. */
const STOPPING = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'UNASSIGNED', 'RETRIED', 'TIMED_OUT', 'WORKER_LOST']);

export function progressBar(percent: number, width = BAR_WIDTH): string {
  const p = Math.max(0, Math.min(100, percent));
  const filled = Math.round((p / 100) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.round(p)).padStart(3)}%`;
}

/** The worker's pull progress (an INFO event with `payload.phase: 'pulling'`), if this is one. */
export function pullProgressOf(e: EventJson): { image: string; percent: number } | undefined {
  const p = e.payload;
  if (e.type !== 'INFO' || p?.phase !== 'pulling' || typeof p.image !== 'string') return undefined;
  const percent = Number(p.percent);
  return { image: p.image, percent: Number.isFinite(percent) ? percent : 0 };
}

/** The pull's own bar: `pulling gyoza/x:1 [####------]  43%`. */
export function pullBar(image: string, percent: number, width = BAR_WIDTH): string {
  return `pulling ${image} ${progressBar(percent, width)}`;
}

/** One human line for an event, or undefined for events that only move the bar. */
export function describeEvent(e: EventJson): string | undefined {
  const p = e.payload ?? {};
  const msg = e.msg ? ` ${e.msg}` : '';
  switch (e.type) {
    case 'CREATED':
      return `PENDING    created (image ${p.image ?? '?'})`;
    case 'ASSIGNED': {
      const gpus = Array.isArray(p.gpu_ids) && p.gpu_ids.length > 0 ? `, gpus ${p.gpu_ids.join(',')}` : '';
      return `ASSIGNED   to worker ${p.worker_id ?? '?'}${gpus}`;
    }
    case 'UNASSIGNED':
      return `PENDING    unassigned${msg}`;
    case 'STARTED':
      return `RUNNING    attempt ${e.attempt} started${p.worker_id ? ` on ${p.worker_id}` : ''}`;
    case 'PROGRESS':
      return undefined;
    case 'COMPLETED':
      return 'COMPLETED';
    case 'FAILED':
      return `FAILED     ${e.msg ?? p.error_message ?? ''}${p.retry_at ? ` (retry at ${p.retry_at})` : ''}`;
    case 'CANCELLED':
      return `CANCELLED ${msg}`.trimEnd();
    case 'RETRIED':
      return `PENDING    attempt ${e.attempt} (${p.automatic ? 'automatic retry' : 'retried'})`;
    default:
      return `${e.type.padEnd(10)}${msg}`.trimEnd();
  }
}

export function formatEventLine(e: EventJson): string {
  const time = e.created_at.slice(11, 19);
  const text = e.type === 'PROGRESS' ? `PROGRESS   ${e.msg ?? ''}%` : (describeEvent(e) ?? e.type);
  return `${time}  ${text}`;
}

/**
 * Follows a run to its end: state changes (and a live bar on a terminal) go to stderr,
 * the outputs or the final run to stdout. Returns the exit code for the outcome.
 */
export async function watchRun(client: GyozaClient, id: string, json = false): Promise<number> {
  const tty = process.stderr.isTTY === true;
  let progress = 0;
  let running = false;
  let barShown = false;
  const clearBar = () => {
    if (barShown) process.stderr.write('\r\x1b[2K');
    barShown = false;
  };
  const drawBar = (text = progressBar(progress)) => {
    if (!tty) return;
    process.stderr.write(`\r\x1b[2K${text}`);
    barShown = true;
  };

  // A finished run replays its history too, so the output has the same shape either way.
  for await (const event of client.followEvents(id)) {
    if (event.type === 'PROGRESS') {
      const value = Number(event.msg);
      if (Number.isFinite(value)) progress = value;
      if (tty) drawBar();
      else process.stderr.write(`${formatEventLine(event)}\n`);
      continue;
    }
    const pull = pullProgressOf(event);
    if (pull) {
      // Before STARTED: the image is on its way, the op's own bar has not begun.
      if (tty) drawBar(pullBar(pull.image, pull.percent));
      else process.stderr.write(`${formatEventLine(event)}\n`);
      continue;
    }
    if (event.type === 'RETRIED') progress = 0;
    if (event.type === 'COMPLETED') progress = 100;
    if (event.type === 'STARTED') running = true;
    else if (STOPPING.has(event.type)) running = false;
    clearBar();
    process.stderr.write(`${formatEventLine(event)}\n`);
    // Keep the bar under the latest line while the attempt runs.
    if (running) drawBar();
  }
  clearBar();
  // The final run, read through a server restart like the events were.
  const run: RunJson = await client.waitForRun(id);
  if (json) printJson(run);
  if (run.state === 'COMPLETED') {
    if (!json) process.stdout.write(Object.keys(run.outputs).length > 0 ? stringify(run.outputs) : '{}\n');
    return EXIT_OK;
  }
  process.stderr.write(`run ${run.id} ${run.state}${run.error_message ? `: ${run.error_message}` : ''}\n`);
  return EXIT_FAILED;
}
