/**
 * Whether the local Docker engine answers, asked before each claim: a run claimed while it is
 * away could only be handed back. Says once that it is away, and once that it is back.
 */
import type Docker from 'dockerode';
import type { Logger } from 'pino';

/** dockerode's ping, which takes an abort signal its types leave out. */
type PingWithSignal = (options: { abortSignal: AbortSignal }) => Promise<unknown>;

/** How long a ping may take before the engine counts as away. */
const PING_TIMEOUT_MS = 10_000;

export class EngineWatch {
  /** Whether the last ping failed. */
  private away = false;

  constructor(
    private readonly docker: Docker,
    private readonly logger: Logger,
  ) {}

  /**
   * Whether the engine answers a ping. The first failure is a warning, the recovery an info
   * line, the failures between them debug lines; an aborted ping answers false, unlogged.
   */
  async answers(signal: AbortSignal): Promise<boolean> {
    try {
      const abortSignal = AbortSignal.any([AbortSignal.timeout(PING_TIMEOUT_MS), signal]);
      await (this.docker.ping as unknown as PingWithSignal).call(this.docker, { abortSignal });
      if (this.away) this.logger.info('the Docker engine answers again: claiming runs');
      this.away = false;
      return true;
    } catch (error) {
      if (signal.aborted) return false;
      const err = (error as Error).message;
      if (this.away) this.logger.debug({ err }, 'the Docker engine still does not answer');
      else this.logger.warn({ err }, 'the Docker engine does not answer: claiming no runs until it does');
      this.away = true;
      return false;
    }
  }
}
