import { GyozaApiError, type GyozaClient, type PostEventBody, type ReportResult } from '@gyoza/client';
import type { ErrorCode } from '@gyoza/domain';
import type { Logger } from 'pino';
import { LOG_BATCH_LINES, LogLines } from './log-lines';
import { cutText, MAX_EVENT_TEXT_LENGTH } from './text-limits';

/** Events queued at most, of every type; output lines beyond are counted and reported as dropped. */
const MAX_QUEUE = 1000;
/** Most queued events sent in one request (the server takes up to 500). */
const REPORT_BATCH = 50;
/** Most bytes of events (as JSON) in one request: well under the server's 1 MB body limit. */
const MAX_REQUEST_BYTES = 512 * 1024;
/**
 * The refusals that mean the attempt is no longer this worker's (cancelled, finished, taken
 * back or given to another worker): nothing more is reported for it. Any other refusal is
 * either of one event's content (400, 413: that event is dropped or replaced) or passing
 * (409 CONCURRENT_MODIFICATION, 429, 5xx, no answer: retried).
 */
const NOT_OURS: ReadonlySet<string> = new Set<ErrorCode>([
  'STALE_ASSIGNMENT',
  'WORKER_MISMATCH',
  'NOT_FOUND',
  'RUN_LOCKED',
  'INVALID_TRANSITION',
]);

type ReporterEvent = Omit<PostEventBody, 'attempt' | 'worker_id' | 'assignment_id'>;

/** A queued event, its size as sent, and whether it stands in for an outcome the server refused. */
interface Queued {
  body: PostEventBody;
  bytes: number;
  substitute?: boolean;
}

/** A refusal of what an event says (too long, too large, malformed), not of who sends it. */
const refusesContent = (error: GyozaApiError) =>
  (error.status === 400 || error.status === 413) && !NOT_OURS.has(error.code);

/** A refusal that passes: the same report may be accepted later. */
const passes = (error: GyozaApiError) =>
  error.status >= 500 ||
  error.status === 408 ||
  error.status === 429 ||
  (error.status === 409 && error.code === 'CONCURRENT_MODIFICATION');

/**
 * Whether a refusal ends the attempt: a "not ours" code, or any other 4xx that neither passes
 * nor is about one event's content (401, 403: this worker may not report at all; retrying
 * would keep its container running while the server gives the run to another worker).
 */
const endsAttempt = (error: GyozaApiError) =>
  NOT_OURS.has(error.code) || (error.status < 500 && !passes(error) && !refusesContent(error));

/** The latest of these replaces one queued before it and not yet sent: only the last one matters. */
const supersedes = (event: ReporterEvent) =>
  event.type === 'PROGRESS' || (event.type === 'INFO' && event.payload?.phase === 'pulling');

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
  /** Called once, when the server says the attempt is no longer this worker's (see NOT_OURS). */
  onRefused: (error: GyozaApiError) => void;
  /**
   * How long output lines gather before they are posted as one LOG event (or sooner, at
   * 100 lines).
   * @defaultValue 250
   */
  logBatchMs?: number;
}

/**
 * Posts one run's events in order. Connection errors, 5xx, 429, 409 CONCURRENT_MODIFICATION
 * and a request too large for the server are retried (with backoff, the queue kept through a
 * server outage, bounded; a batch the server refuses whole is sent again one event a request).
 * A refusal meaning the attempt is no longer ours (see NOT_OURS) fires `onRefused` and drops
 * the rest. An event refused for its content (400, 413) is dropped with a warning (LOG, INFO,
 * PROGRESS) or, for an outcome, replaced by a FAILED that gives the server's reason.
 * Output lines are gathered into one LOG event per interval (see LogLines); queued events are
 * sent together through the worker's batch endpoint, at most MAX_REQUEST_BYTES a request.
 */
export class RunReporter {
  private readonly queue: Queued[] = [];
  private readonly lines = new LogLines();
  /** The latest PROGRESS (or pull report) sent while lines gather: queued after them. */
  private held?: ReporterEvent;
  /** Whether the last request failed without an answer the reporter could act on. */
  private failing = false;
  /** How many events at the head of the queue are in the request under way. */
  private inFlight = 0;
  /** How many of the next requests carry one event (after a batch the server refused whole). */
  private aloneFor = 0;
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

  /** One output line (cut, see LogLines); dropped and counted while the queue is full. */
  line(text: string): void {
    if (this.refused || this.closed) return;
    if (this.queue.length >= MAX_QUEUE) {
      this.lines.drop(this.failing ? 'unreachable' : 'slow');
      return;
    }
    this.lines.add(text);
    if (this.lines.size >= LOG_BATCH_LINES) this.flushLines();
    else this.timer ??= setTimeout(() => this.flushLines(), this.logBatchMs);
  }

  /**
   * Queues an event after the lines before it. A PROGRESS (or pull report) waits for the
   * batch of lines under way instead of cutting it short, and replaces the one queued before
   * it that is not yet on its way: a flood of them takes one place and one request.
   */
  send(event: ReporterEvent): void {
    if (this.refused || this.closed) return;
    if (supersedes(event) && this.lines.size > 0) {
      this.held = event;
      return;
    }
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
    this.lines.clear();
    this.held = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.retryNow?.();
  }

  /** Resolves once everything queued so far is delivered (or refused). */
  async drain(): Promise<void> {
    this.flushLines();
    while (this.flushing) await this.flushing;
  }

  /** Queues the lines gathered so far as LOG events, then the PROGRESS held while they gathered. */
  private flushLines(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.refused) return;
    for (const msg of this.lines.take()) this.enqueue({ type: 'LOG', msg });
    const held = this.held;
    this.held = undefined;
    if (held) this.enqueue(held);
  }

  private enqueue(event: ReporterEvent): void {
    if (supersedes(event)) {
      const at = this.queue.findIndex((q, i) => i >= this.inFlight && q.body.type === event.type && supersedes(q.body));
      if (at >= 0) this.queue.splice(at, 1);
    }
    this.queue.push(this.queued(event));
    this.kick();
  }

  /** The event as posted (with the attempt's fencing fields), its text cut to what the server takes. */
  private queued(event: ReporterEvent, substitute = false): Queued {
    const { attempt, workerId, assignmentId } = this.options;
    const fitted: ReporterEvent = { ...event };
    if (typeof fitted.msg === 'string') fitted.msg = cutText(fitted.msg, MAX_EVENT_TEXT_LENGTH);
    const errorMessage = fitted.payload?.error_message;
    if (typeof errorMessage === 'string') {
      fitted.payload = { ...fitted.payload, error_message: cutText(errorMessage, MAX_EVENT_TEXT_LENGTH) };
    }
    const body: PostEventBody = {
      ...fitted,
      attempt,
      worker_id: workerId,
      ...(assignmentId !== undefined ? { assignment_id: assignmentId } : {}),
    };
    return { body, bytes: Buffer.byteLength(JSON.stringify(body)), ...(substitute ? { substitute } : {}) };
  }

  private kick(): void {
    this.flushing ??= this.deliver().finally(() => {
      this.flushing = undefined;
      if (this.queue.length > 0 && !this.refused && !this.closed) this.kick();
    });
  }

  /** The head of the queue for one request: at most REPORT_BATCH events and MAX_REQUEST_BYTES, at least one. */
  private nextRequest(): Queued[] {
    if (this.aloneFor > 0) {
      this.aloneFor -= 1;
      return this.queue.slice(0, 1);
    }
    let bytes = 0;
    let count = 0;
    for (const item of this.queue) {
      if (count === REPORT_BATCH || (count > 0 && bytes + item.bytes > MAX_REQUEST_BYTES)) break;
      bytes += item.bytes;
      count += 1;
    }
    return this.queue.slice(0, count);
  }

  /**
   * Sends the queue in order through the worker's batch endpoint (POST /workers/{id}/events):
   * a run's LOG lines, progress and outcome queued together cost one request. Each event has
   * its own result: delivered ones leave the queue, one refused for its content is dropped or
   * replaced, one refused as no longer ours ends the attempt, a passing failure is retried
   * from there.
   */
  private async deliver(): Promise<void> {
    let backoff = 200;
    while (this.queue.length > 0 && !this.refused && !this.closed) {
      const sending = this.nextRequest();
      this.inFlight = sending.length;
      let failure: Error | undefined;
      try {
        const results = await this.options.client.reportEvents(
          this.options.workerId,
          sending.map(({ body: { worker_id: _worker, ...event } }) => ({ ...event, run_id: this.options.runId })),
        );
        if (this.closed) return;
        // The settled head of the queue is replaced by what stands in for refused outcomes.
        const replacements: Queued[] = [];
        let settled = 0;
        for (const [k, result] of results.entries()) {
          if (result.status !== 200) {
            const { code, message, details } = (result as Extract<ReportResult, { error: unknown }>).error;
            const error = new GyozaApiError(result.status, code, message, details);
            if (endsAttempt(error)) return this.giveUp(error);
            if (!refusesContent(error)) {
              failure = error;
              break;
            }
            const replacement = this.replacementFor(sending[k] as Queued, error);
            if (replacement === 'give up') return this.giveUp(error);
            if (replacement) replacements.push(replacement);
          }
          settled = k + 1;
        }
        this.queue.splice(0, settled, ...replacements);
        if (!failure) {
          this.failing = false;
          backoff = 200;
          continue;
        }
      } catch (error) {
        if (this.closed) return;
        failure = error as Error;
        if (failure instanceof GyozaApiError && endsAttempt(failure)) return this.giveUp(failure);
        if (failure instanceof GyozaApiError && refusesContent(failure)) {
          if (sending.length > 1) {
            // Too large or too much together (the server's body and JSON limits hold per
            // request): each event goes alone, so only one the server refuses by itself is lost.
            this.options.logger.warn(
              { run: this.options.runId, code: failure.code, events: sending.length },
              'the server refused a batch of reports; sending them one by one',
            );
            this.aloneFor = sending.length;
            continue;
          }
          const replacement = this.replacementFor(sending[0] as Queued, failure);
          if (replacement === 'give up') return this.giveUp(failure);
          this.queue.splice(0, 1, ...(replacement ? [replacement] : []));
          continue;
        }
      } finally {
        this.inFlight = 0;
      }
      this.failing = true;
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

  /**
   * What replaces an event the server refused for its content: nothing for a LOG, INFO or
   * PROGRESS (dropped, with a warning); for an outcome, a FAILED giving the server's reason
   * (COMPLETED: not retried, the same op would write the same outputs); 'give up' when even
   * that, or STARTED, is refused.
   */
  private replacementFor(item: Queued, error: GyozaApiError): Queued | undefined | 'give up' {
    const { type } = item.body;
    const reason = error.details.length
      ? error.details.map((d) => `${d.field}: ${d.message}`).join('; ')
      : `${error.code}: ${error.message}`;
    if (type === 'LOG' || type === 'INFO' || type === 'PROGRESS') {
      this.options.logger.warn({ run: this.options.runId, type, reason }, 'the server refused a report; dropped');
      return undefined;
    }
    if ((type !== 'COMPLETED' && type !== 'FAILED') || item.substitute) return 'give up';
    this.options.logger.warn(
      { run: this.options.runId, type, reason },
      'the server refused the outcome; reporting FAILED',
    );
    const retryable = type === 'FAILED' ? item.body.payload?.retryable !== false : false;
    const what = type === 'COMPLETED' ? 'the outputs' : 'the failure report';
    return this.queued(
      {
        type: 'FAILED',
        payload: {
          error_message: `the server refused ${what}: ${reason}`,
          ...(retryable ? {} : { retryable: false }),
        },
      },
      true,
    );
  }

  /** The attempt is no longer ours: nothing more is sent, and the owner is told once. */
  private giveUp(error: GyozaApiError): void {
    this.wasRefused = true;
    this.queue.length = 0;
    this.options.logger.info(
      { run: this.options.runId, code: error.code },
      'server refused a report; the attempt is no longer ours',
    );
    this.options.onRefused(error);
  }
}
