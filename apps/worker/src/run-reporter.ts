import { GyozaApiError, type GyozaClient, type PostEventBody, type ReportResult } from '@gyoza/client';
import type { Logger } from 'pino';

const MAX_QUEUE = 1000;
const LOG_BATCH_LINES = 100;
/** Most queued events sent in one request. */
const REPORT_BATCH = 50;

/** What a {@link RunReporter} reports for, and where to. */
export interface RunReporterOptions {
  client: GyozaClient;
  runId: string;
  /** The attempt every event is posted for; the server refuses events for another one. */
  attempt: number;
  /** The assignment every event names: a report on a taken-back assignment is refused. */
  assignmentId?: string;
  workerId: string;
  logger: Logger;
  /** Called once, when the server refuses a report: the attempt is no longer this worker's. */
  onRefused: (error: GyozaApiError) => void;
  /**
   * How long output lines gather before they are posted as one LOG event (or sooner, at
   * 100 lines).
   * @defaultValue 250
   */
  logBatchMs?: number;
}

/**
 * Posts one run's events in order. Connection errors and 5xx are retried with backoff (the
 * queue is kept through a server outage, bounded); a 4xx means the server no longer wants
 * reports for this attempt (cancelled, finished, given to another worker): `onRefused` fires
 * and the rest is dropped. Log lines are batched into one LOG event per interval, and queued
 * events are sent together through the worker's batch endpoint.
 */
export class RunReporter {
  private readonly queue: PostEventBody[] = [];
  private lines: string[] = [];
  private droppedLines = 0;
  private flushing?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private readonly logBatchMs: number;
  private wasRefused = false;
  private closed = false;
  /** Ends the wait before the next retry (set while one is pending). */
  private retryNow?: () => void;

  constructor(private readonly options: RunReporterOptions) {
    this.logBatchMs = options.logBatchMs ?? 250;
  }

  /** Whether the server refused a report: nothing more is sent for this attempt. */
  get refused(): boolean {
    return this.wasRefused;
  }

  line(text: string): void {
    if (this.refused || this.closed) return;
    if (this.queue.length >= MAX_QUEUE) {
      this.droppedLines += 1;
      return;
    }
    this.lines.push(text);
    if (this.lines.length >= LOG_BATCH_LINES) this.flushLines();
    else this.timer ??= setTimeout(() => this.flushLines(), this.logBatchMs);
  }

  send(event: Omit<PostEventBody, 'attempt' | 'worker_id' | 'assignment_id'>): void {
    if (this.refused || this.closed) return;
    this.flushLines();
    this.enqueue(event);
  }

  /**
   * Stops for good: nothing more is sent or retried, what is queued is dropped, and `drain`
   * resolves once a request in flight ends. For an agent that gives up on an unreachable server.
   */
  close(): void {
    this.closed = true;
    this.queue.length = 0;
    this.lines = [];
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.retryNow?.();
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
    this.enqueue({ type: 'LOG', msg: this.lines.join('\n') });
    this.lines = [];
  }

  private enqueue(event: Omit<PostEventBody, 'attempt' | 'worker_id' | 'assignment_id'>): void {
    const { attempt, workerId, assignmentId } = this.options;
    this.queue.push({
      ...event,
      attempt,
      worker_id: workerId,
      ...(assignmentId !== undefined ? { assignment_id: assignmentId } : {}),
    });
    this.kick();
  }

  private kick(): void {
    this.flushing ??= this.deliver().finally(() => {
      this.flushing = undefined;
      if (this.queue.length > 0 && !this.refused && !this.closed) this.kick();
    });
  }

  /**
   * Sends the queue in order, up to {@link REPORT_BATCH} events per request through the
   * worker's batch endpoint (POST /workers/{id}/events): a run's LOG lines, progress and
   * outcome queued together cost one request. Each event has its own result; delivered ones
   * leave the queue, the first refused one ends the attempt, a 5xx one is retried from there.
   */
  private async deliver(): Promise<void> {
    let backoff = 200;
    while (this.queue.length > 0 && !this.refused && !this.closed) {
      const sending = this.queue.slice(0, REPORT_BATCH);
      let failure: Error | undefined;
      try {
        const results = await this.options.client.reportEvents(
          this.options.workerId,
          sending.map(({ worker_id: _worker, ...event }) => ({ ...event, run_id: this.options.runId })),
        );
        for (const result of results) {
          if (result.status !== 200) {
            const { code, message, details } = (result as Extract<ReportResult, { error: unknown }>).error;
            failure = new GyozaApiError(result.status, code, message, details);
            break;
          }
          this.queue.shift();
          backoff = 200;
        }
      } catch (error) {
        failure = error as Error;
      }
      if (!failure) continue;
      if (failure instanceof GyozaApiError && failure.status < 500 && failure.status !== 429) {
        this.wasRefused = true;
        this.queue.length = 0;
        this.options.logger.info(
          { run: this.options.runId, code: failure.code },
          'server refused a report; the attempt is no longer ours',
        );
        this.options.onRefused(failure);
        return;
      }
      this.options.logger.warn({ run: this.options.runId, err: failure.message }, 'cannot report an event; retrying');
      await new Promise<void>((resolve) => {
        const retry = setTimeout(() => resolve(), backoff);
        this.retryNow = () => {
          clearTimeout(retry);
          resolve();
        };
      });
      this.retryNow = undefined;
      backoff = Math.min(backoff * 2, 10_000);
    }
  }
}
