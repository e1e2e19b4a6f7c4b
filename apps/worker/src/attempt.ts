import type { GyozaClient } from '@gyoza/client';
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import { type ContainerHardening, ContainerRun, type OpToRun } from './container-run';
import {
  EngineUnreachableError,
  ImagePullError,
  type ImagePuller,
  type PullPolicy,
  type PullProgress,
} from './image-puller';
import { RunReporter } from './run-reporter';
import { cutText } from './text-limits';

const PROGRESS_LINE = /^::gyoza progress (\d+(?:\.\d+)?)\s*$/;
const TAIL_LINES = 20;
/** Characters kept of each of the last lines in a FAILED message, so that 20 of them fit one event. */
const TAIL_LINE_LENGTH = 1024;
/** Pull progress is reported at most this often. */
const PULL_REPORT_MS = 1000;

/** One claimed op and what the agent runs it with. */
export interface AttemptOptions {
  op: OpToRun;
  client: GyozaClient;
  docker: Docker;
  workerId: string;
  /** Docker network of the op's container. */
  networkMode: string;
  /** What the worker relaxes of the container defaults (none: all of them hold). */
  hardening?: ContainerHardening;
  logger: Logger;
  /** Gets the op's image onto the worker before its container is created. */
  puller: ImagePuller;
  /** When to pull: the worker's default, for a run that names no policy of its own. */
  pullPolicy: PullPolicy;
  /**
   * Hands the run back to the server (PENDING again, same attempt), saying why: the agent
   * stops, or its Docker engine does not answer, before the attempt started.
   */
  release: (reason: string) => Promise<void>;
  /**
   * How long output lines gather before they are posted as one LOG event.
   * @defaultValue 250
   */
  logBatchMs?: number;
  /**
   * Between SIGTERM and SIGKILL when the attempt is cancelled or abandoned.
   * @defaultValue 10000
   */
  killTimeoutMs?: number;
}

/**
 * Why an attempt ends without its own outcome: the server no longer wants it (`cancelled`:
 * nothing more is reported) or the agent stops before it ends (`shutdown`: reported FAILED).
 */
export type AbandonReason = 'cancelled' | 'shutdown';

/**
 * One claimed attempt on this worker, from STARTED to its outcome: the op's container, its
 * output as LOG and PROGRESS events, COMPLETED or FAILED with the last lines. On every path
 * the container is gone before the outcome is reported.
 */
export class Attempt {
  readonly op: OpToRun;
  private readonly reporter: RunReporter;
  private readonly container: ContainerRun;
  private readonly workerId: string;
  private readonly logger: Logger;
  private readonly tail: string[] = [];
  private abandonedFor?: AbandonReason;
  /** The container's stop, once a cancel or the shutdown began it. */
  private stopping?: Promise<void>;
  private readonly puller: ImagePuller;
  private readonly pullPolicy: PullPolicy;
  private readonly release: (reason: string) => Promise<void>;
  private started = false;
  /** Whole seconds between SIGTERM and SIGKILL when the op is stopped (Docker counts in seconds). */
  private readonly killTimeoutSeconds: number;
  /** Aborted when the attempt is cancelled or abandoned: a wait for its image ends then. */
  private readonly ended = new AbortController();

  constructor(options: AttemptOptions) {
    this.op = options.op;
    this.workerId = options.workerId;
    this.logger = options.logger;
    this.puller = options.puller;
    this.pullPolicy = options.op.image_pull_policy ?? options.pullPolicy;
    this.release = options.release;
    this.killTimeoutSeconds = Math.ceil((options.killTimeoutMs ?? 10_000) / 1000);
    this.reporter = new RunReporter({
      client: options.client,
      runId: options.op.id,
      attempt: options.op.attempt,
      assignmentId: options.op.assignment_id,
      workerId: options.workerId,
      logger: options.logger,
      logBatchMs: options.logBatchMs,
      onRefused: () => void this.cancel().catch(() => undefined),
    });
    this.container = new ContainerRun(
      options.docker,
      options.op,
      options.workerId,
      options.networkMode,
      options.hardening,
    );
  }

  /** Whether its op has started (STARTED sent): before that, it waits for its image. */
  get hasStarted(): boolean {
    return this.started;
  }

  /** Set once the attempt is cancelled or abandoned; its own outcome is then not reported. */
  get abandoned(): AbandonReason | undefined {
    return this.abandonedFor;
  }

  /**
   * Pulls the image (the run stays ASSIGNED meanwhile, with INFO progress events, so a slow
   * pull does not count against the attempt's timeout), then runs the op to its end and
   * reports; resolves once the last report is delivered, refused or given up by the reporter.
   * Never rejects: a failure to pull or to run is reported as FAILED (a permanent pull
   * failure with `retryable: false`); a Docker engine that does not answer before the op
   * starts hands the run back instead.
   */
  async run(): Promise<void> {
    const { op, reporter, container } = this;
    try {
      const pulled = await this.pull();
      if (this.abandonedFor) return;
      if (pulled instanceof EngineUnreachableError) {
        // Not the run's fault, and no attempt of it can start here until the engine is back.
        this.logger.warn(
          { run: op.id, err: pulled.message },
          'handing the run back: the Docker engine does not answer',
        );
        await this.release(`worker ${this.workerId} cannot reach its Docker engine: ${pulled.message}`);
        return;
      }
      this.started = true;
      reporter.send({
        type: 'STARTED',
        payload: { worker_id: this.workerId, ...(op.gpu_ids.length ? { gpu_id: op.gpu_ids[0] } : {}) },
      });
      await reporter.drain();
      // Cancelled while STARTED was on its way (there was no container to remove then).
      if (reporter.refused || this.abandonedFor) return;
      if (pulled) {
        reporter.send({
          type: 'FAILED',
          payload: { error_message: pulled.message, ...(pulled.permanent ? { retryable: false } : {}) },
        });
        return;
      }
      await container.start((_stream, line) => this.onLine(line));
      // Cancelled while its container was being made: it goes (finally), unwaited for.
      if (this.abandonedFor) return;
      const outcome = await container.wait();
      if (this.abandonedFor) return;
      if (outcome.exitCode === 0 && !outcome.outputsError) {
        reporter.send({ type: 'COMPLETED', payload: { outputs: outcome.outputs ?? {} } });
      } else {
        const reason = outcome.oomKilled
          ? `OOM killed (memory limit ${op.constraints.ram_mb} MB), exit code ${outcome.exitCode}`
          : (outcome.outputsError ?? `exit code ${outcome.exitCode}`);
        const last = this.tail.length ? `\nlast lines:\n${this.tail.join('\n')}` : '';
        reporter.send({ type: 'FAILED', payload: { error_message: `${reason}${last}`, exit_code: outcome.exitCode } });
      }
    } catch (error) {
      await container.remove().catch(() => undefined);
      if (!this.abandonedFor) {
        this.logger.error({ run: op.id, err: (error as Error).message }, 'container failed');
        reporter.send({
          type: 'FAILED',
          payload: { error_message: `worker could not run the container: ${(error as Error).message}` },
        });
      }
    } finally {
      if (this.abandonedFor === 'shutdown') {
        if (this.started) reporter.send({ type: 'FAILED', payload: { error_message: 'worker shutting down' } });
        else await this.release(`worker ${this.workerId} stopping`);
      }
      await reporter.drain();
      await container.remove().catch(() => undefined);
    }
  }

  /**
   * Gets the image as the pull policy says; answers the pull's failure rather than throwing,
   * so it is reported after STARTED (FAILED is an edge from RUNNING), or an engine that does
   * not answer (the run is handed back, not failed).
   */
  private async pull(): Promise<ImagePullError | EngineUnreachableError | undefined> {
    const { op, reporter } = this;
    let reportedAt = 0;
    const onProgress = (p: PullProgress) => {
      const at = Date.now();
      if (at - reportedAt < PULL_REPORT_MS || p.totalBytes === 0) return;
      reportedAt = at;
      const percent = Math.floor((100 * p.doneBytes) / p.totalBytes);
      reporter.send({
        type: 'INFO',
        msg: `pulling ${op.image} ${percent}%`,
        payload: { phase: 'pulling', image: op.image, done_bytes: p.doneBytes, total_bytes: p.totalBytes, percent },
      });
    };
    try {
      await this.puller.ensure(op.image, this.pullPolicy, onProgress, this.ended.signal);
      return undefined;
    } catch (error) {
      if (error instanceof EngineUnreachableError) return error;
      if (error instanceof ImagePullError) {
        this.logger.warn({ run: op.id, image: op.image, permanent: error.permanent }, error.message);
        return error;
      }
      return new ImagePullError(`cannot pull ${op.image}: ${(error as Error).message}`, false);
    }
  }

  /**
   * The server no longer wants this attempt: its op is stopped (SIGTERM, SIGKILL after the kill
   * timeout) and its container goes; nothing more is reported.
   */
  async cancel(): Promise<void> {
    if (this.abandonedFor) return this.stopping;
    this.abandonedFor = 'cancelled';
    this.ended.abort();
    this.stopping = this.container.stop(this.killTimeoutSeconds);
    await this.stopping;
  }

  /**
   * The agent stops before the attempt ends: its op is stopped (SIGTERM, SIGKILL after the kill
   * timeout; its last lines are still reported) and its container goes, then FAILED is reported.
   */
  async abandon(): Promise<void> {
    // Stopping already (cancelled): the shutdown waits for that stop, not for nothing.
    if (this.abandonedFor) return this.stopping?.catch(() => undefined);
    this.abandonedFor = 'shutdown';
    this.ended.abort();
    this.stopping = this.container.stop(this.killTimeoutSeconds);
    await this.stopping.catch(() => undefined);
  }

  /** Gives up reporting (the server stayed unreachable past the agent's report timeout). */
  stopReporting(): void {
    this.reporter.close();
  }

  private onLine(line: string): void {
    this.tail.push(cutText(line, TAIL_LINE_LENGTH));
    if (this.tail.length > TAIL_LINES) this.tail.shift();
    const progress = PROGRESS_LINE.exec(line);
    if (progress) this.reporter.send({ type: 'PROGRESS', msg: Math.min(100, Number(progress[1])) });
    else this.reporter.line(line);
  }
}
