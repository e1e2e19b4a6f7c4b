import { GyozaApiError, type GyozaClient, type PostEventBody } from '@gyoza/client';
import type { Logger } from 'pino';

const MAX_QUEUE = 1000;
const LOG_BATCH_LINES = 100;

/**
 * Posts one run's events in order. Connection errors and 5xx are retried with backoff (the
 * queue is kept through a server outage, bounded); a 4xx means the server no longer wants
 * reports for this attempt (cancelled, finished, given to another worker): `onRefused` fires
 * and the rest is dropped. Log lines are batched into one LOG event per interval.
 */
export class RunReporter {
  private readonly queue: PostEventBody[] = [];
  private lines: string[] = [];
  private droppedLines = 0;
  private flushing?: Promise<void>;
  private timer?: NodeJS.Timeout;
  refused = false;

  constructor(
    private readonly client: GyozaClient,
    private readonly runId: string,
    private readonly attempt: number,
    private readonly workerId: string,
    private readonly logger: Logger,
    private readonly onRefused: (error: GyozaApiError) => void,
    private readonly batchMs = 250,
  ) {}

  line(text: string): void {
    if (this.refused) return;
    if (this.queue.length >= MAX_QUEUE) {
      this.droppedLines += 1;
      return;
    }
    this.lines.push(text);
    if (this.lines.length >= LOG_BATCH_LINES) this.flushLines();
    else this.timer ??= setTimeout(() => this.flushLines(), this.batchMs);
  }

  send(event: Omit<PostEventBody, 'attempt' | 'worker_id'>): void {
    if (this.refused) return;
    this.flushLines();
    this.queue.push({ ...event, attempt: this.attempt, worker_id: this.workerId });
    this.kick();
  }

  /** Resolves once everything queued so far is delivered (or refused). */
  async drain(): Promise<void> {
    this.flushLines();
    while (this.flushing) await this.flushing;
  }

  private flushLines(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.droppedLines > 0) {
      this.lines.push(`[gyoza] ${this.droppedLines} log lines dropped while the server was unreachable`);
      this.droppedLines = 0;
    }
    if (this.lines.length === 0 || this.refused) return;
    this.queue.push({ type: 'LOG', msg: this.lines.join('\n'), attempt: this.attempt, worker_id: this.workerId });
    this.lines = [];
    this.kick();
  }

  private kick(): void {
    this.flushing ??= this.deliver().finally(() => {
      this.flushing = undefined;
      if (this.queue.length > 0 && !this.refused) this.kick();
    });
  }

  private async deliver(): Promise<void> {
    let backoff = 200;
    while (this.queue.length > 0 && !this.refused) {
      try {
        await this.client.postEvent(this.runId, this.queue[0]);
        this.queue.shift();
        backoff = 200;
      } catch (error) {
        if (error instanceof GyozaApiError && error.status < 500 && error.status !== 429) {
          this.refused = true;
          this.queue.length = 0;
          this.logger.info(
            { run: this.runId, code: error.code },
            'server refused a report; the attempt is no longer ours',
          );
          this.onRefused(error);
          return;
        }
        this.logger.warn({ run: this.runId, err: (error as Error).message }, 'cannot report an event; retrying');
        await new Promise((resolve) => setTimeout(resolve, backoff));
        backoff = Math.min(backoff * 2, 10_000);
      }
    }
  }
}
