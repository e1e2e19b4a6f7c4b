import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { GyozaApiError, GyozaClient, type WorkerOpRun } from '@gyoza/client';
import { heldRunsDigest } from '@gyoza/domain';
import Docker from 'dockerode';
import pino, { type Logger } from 'pino';
import { type AgentState, checkAgentMove } from './agent-state';
import { Attempt } from './attempt';
import { type OpToRun, removeOrphans } from './container-run';
import { EngineImages } from './engine-images';
import { EngineWatch } from './engine-watch';
import { ImagePuller } from './image-puller';
import { RegistryAuth } from './registry-auth';
import { detectResources, type WorkerResourcesInput } from './resources';
import { checkWorkerOptions, type RunningWorker, type WorkerOptions } from './worker-options';

/**
 * The worker agent: heartbeats its resources and running runs, long-poll claims while it
 * has room, runs each op as an {@link Attempt} (a container) and reports its events. One
 * agent starts once and stops once; `state` says where it is.
 */
export class WorkerAgent implements RunningWorker {
  readonly id: string;
  private current: AgentState = 'created';
  private readonly options: WorkerOptions;
  private readonly logger: Logger;
  private readonly client: GyozaClient;
  private readonly docker: Docker;
  private readonly resources: WorkerResourcesInput;
  private readonly puller: ImagePuller;
  /** The attempts on this worker by run id, with the promise of each one's end. */
  private readonly attempts = new Map<string, { attempt: Attempt; ended: Promise<void> }>();
  /** Aborts the pending claim and the claim loop's backoff when the agent drains. */
  private readonly claimAbort = new AbortController();
  private beat?: NodeJS.Timeout;
  private starting?: Promise<void>;
  private claiming?: Promise<void>;
  private stopping?: Promise<void>;
  private slotFreed?: () => void;
  /** The engine's images, sent with every heartbeat. */
  private readonly images: EngineImages;
  /**
   * Whether the next heartbeat lists its run ids rather than their digest: until the server
   * has answered a `held_digest` (an older one does not know digests), and when it asks.
   */
  private listRunsNext = true;
  /** Asked before each claim: no runs are claimed while the Docker engine is away. */
  private readonly engine: EngineWatch;

  /** Throws a `WorkerOptionError` naming an option out of its range (`maxParallel` 0, say). */
  constructor(options: WorkerOptions = {}) {
    checkWorkerOptions(options);
    this.options = options;
    this.id = options.id ?? hostname();
    this.logger = (options.logger ?? pino({ level: 'info' })).child({ worker: this.id });
    this.client = options.client ?? new GyozaClient();
    this.docker = options.docker ?? new Docker();
    this.resources = detectResources(options.resources);
    this.puller = new ImagePuller({
      docker: this.docker,
      auth: new RegistryAuth({ explicitFile: options.registryAuthFile, logger: this.logger }),
      logger: this.logger,
      timeoutMs: (options.pullTimeoutSeconds ?? 1800) * 1000,
    });
    this.engine = new EngineWatch(this.docker, this.logger);
    this.images = new EngineImages({
      docker: this.docker,
      refreshMs: options.imagesRefreshMs ?? 60_000,
      logger: this.logger,
    });
  }

  get state(): AgentState {
    return this.current;
  }

  /**
   * Removes the containers an earlier agent with this id left, registers with a first heartbeat,
   * then heartbeats and claims until stop(). Resolves once running, or once it has given up
   * because stop() was called meanwhile; rejects (and the agent is `stopped`) when the
   * start itself fails. Refused unless the agent is `created`.
   */
  async start(): Promise<void> {
    this.moveTo('starting');
    this.starting = this.startUp();
    await this.starting;
  }

  /**
   * Stops claiming, lets runs finish for up to `graceMs`, then stops the rest and reports
   * them FAILED. Every call answers the same stop: a second `graceMs` is ignored.
   */
  stop(graceMs = 30_000): Promise<void> {
    this.stopping ??= this.shutDown(graceMs);
    return this.stopping;
  }

  private moveTo(to: AgentState): void {
    const from = this.current;
    checkAgentMove(from, to);
    this.current = to;
    this.logger.info({ from, to }, `agent ${to}`);
  }

  // Methods rather than comparisons of `this.current`, which the compiler would narrow
  // across the awaits that let stop() change it.
  private isStarting(): boolean {
    return this.current === 'starting';
  }

  private isRunning(): boolean {
    return this.current === 'running';
  }

  private async startUp(): Promise<void> {
    try {
      const orphans = await removeOrphans(this.docker, this.id);
      if (orphans.length) this.logger.warn({ runs: orphans }, 'removed containers left by an earlier agent');
      if (!this.isStarting()) return;
      await this.settleInheritedRuns();
      if (!this.isStarting()) return;
    } catch (error) {
      if (this.isStarting()) this.moveTo('stopped');
      throw error;
    }
    this.beat = setInterval(() => {
      this.heartbeat().catch((error: Error) => this.logger.warn({ err: error.message }, 'heartbeat failed'));
    }, this.options.heartbeatIntervalMs ?? 5000);
    this.moveTo('running');
    this.claiming = this.claimLoop();
  }

  private async shutDown(graceMs: number): Promise<void> {
    if (this.current === 'stopped') return; // the start failed: nothing runs
    if (this.current === 'created') return this.moveTo('stopped');
    this.moveTo('draining');
    this.claimAbort.abort();
    this.slotFreed?.();
    await this.starting?.catch(() => undefined);
    await this.claiming;
    await this.releaseUnstarted();
    // Runs still waiting for their image have not started: handed back now, not after the grace.
    for (const { attempt } of this.attempts.values()) if (!attempt.hasStarted) await attempt.abandon();
    const ended = Promise.all([...this.attempts.values()].map((a) => a.ended));
    if (!(await settlesWithin(ended, graceMs))) {
      // Side by side: each op has the kill timeout to exit after its SIGTERM.
      await Promise.all([...this.attempts.values()].map(({ attempt }) => attempt.abandon()));
      // Reports are retried while the server is away; do not wait for it forever.
      if (!(await settlesWithin(ended, this.options.reportTimeoutMs ?? 10_000))) {
        this.logger.error(
          { runs: [...this.attempts.keys()] },
          'exiting without reporting these runs: the server is unreachable',
        );
        // Their reports would otherwise be retried for as long as the process lives, and keep
        // a process that embeds the agent from exiting.
        for (const { attempt } of this.attempts.values()) attempt.stopReporting();
      }
    }
    if (this.beat) {
      clearInterval(this.beat);
      await this.heartbeat({ list: true }).catch(() => undefined);
    }
    this.moveTo('stopped');
  }

  /**
   * Hands back every run the server assigned to this worker that it is not running: one a
   * claim answered after stop() aborted it (its answer never arrived) is still ASSIGNED here.
   */
  private async releaseUnstarted(): Promise<void> {
    if (this.beat === undefined) return; // never registered: nothing was claimed
    try {
      for await (const run of this.client.iterateRuns({ worker_id: this.id, state: 'ASSIGNED' })) {
        if (!this.attempts.has(run.id)) await this.release(run.id, run.current_attempt, run.assignment_id);
      }
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'cannot list assigned runs to release them');
    }
  }

  /** Gives a claimed run back to the server (PENDING again, same attempt) instead of starting it. */
  private async release(
    runId: string,
    attempt: number,
    assignmentId: string | undefined,
    reason = `worker ${this.id} stopping`,
  ): Promise<void> {
    try {
      await this.client.releaseRun(runId, {
        worker_id: this.id,
        attempt,
        ...(assignmentId !== undefined ? { assignment_id: assignmentId } : {}),
        reason,
      });
      this.logger.info({ run: runId, reason }, 'released a claimed run');
    } catch (error) {
      // Already started, cancelled or given to another worker: nothing of ours to hand back.
      this.logger.warn({ run: runId, err: (error as Error).message }, 'cannot release a claimed run');
    }
  }

  /**
   * A restart under the same id: the server may think this worker holds runs an earlier agent
   * claimed (their containers are gone with the orphans). The first heartbeat says the truth,
   * that it runs none, and reconciliation takes back those assigned before the earlier agent's
   * last heartbeat; the next ones settle those claimed after it, since this agent has claimed
   * nothing yet (the server takes back only runs assigned at least about a second before a
   * heartbeat, so they repeat every half second while the server still gives it runs, for a few
   * seconds at most). Nothing waits for the worker timeout.
   */
  private async settleInheritedRuns(): Promise<void> {
    const held = await this.runsHeldByServer();
    if (held.length > 0) {
      this.logger.warn({ runs: held }, 'the server thinks this worker holds runs; reporting that it runs none');
    }
    await this.heartbeat({ list: true });
    for (let i = 0; i < 8 && held.length > 0 && this.isStarting(); i++) {
      if ((await this.runsHeldByServer()).length === 0) return;
      if (i > 0) await sleep(500);
      await this.heartbeat({ list: true });
    }
  }

  /** Runs the server has ASSIGNED or RUNNING on this worker id; none when it cannot say. */
  private async runsHeldByServer(): Promise<string[]> {
    try {
      const page = await this.client.listRuns({ worker_id: this.id, state: ['ASSIGNED', 'RUNNING'], limit: 1000 });
      return page.runs.map((run) => run.id);
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'cannot list the runs the server gives this worker');
      return [];
    }
  }

  /**
   * Tells the server what this worker offers and runs; stops the runs it says to stop. What
   * it runs goes as a digest (O(1) on the server however many runs it holds) unless `list`
   * or the server asked for the ids; the digest is computed from the attempts' ids, at most
   * `maxParallel` of them.
   */
  private async heartbeat(options: { list?: boolean } = {}): Promise<void> {
    const images = await this.images.list();
    const ids = [...this.attempts.keys()];
    const list = options.list === true || this.listRunsNext;
    const answer = await this.client.heartbeat({
      worker_id: this.id,
      resources: this.resources,
      tags: this.options.tags ?? [],
      ...(list ? { running_ops: ids } : { held_digest: heldRunsDigest(ids) }),
      ...(images ? { images } : {}),
    });
    this.listRunsNext = answer.held_digest === undefined || answer.running_ops_wanted === true;
    if (!list && this.listRunsNext) {
      this.logger.debug({ runs: ids.length }, 'the server holds other runs here than this agent: listing them next');
    }
    for (const runId of answer.stop_runs) {
      const attempt = this.attempts.get(runId)?.attempt;
      if (!attempt) {
        // Listed in the heartbeat but ended since: nothing of it is left here.
        this.logger.debug({ run: runId }, 'server says stop a run this agent no longer runs');
      } else if (!attempt.abandoned) {
        this.logger.info({ run: runId }, 'server says stop: stopping the op');
        // Not awaited: the op has the kill timeout to exit, and heartbeats go on meanwhile.
        attempt.cancel().catch((error: Error) => {
          this.logger.warn({ run: runId, err: error.message }, 'cannot stop the op of a cancelled run');
        });
      }
    }
  }

  private async claimLoop(): Promise<void> {
    const maxParallel = this.options.maxParallel ?? 4;
    let backoffMs = 500;
    let engineBackoffMs = 500;
    while (this.isRunning()) {
      const room = maxParallel - this.attempts.size;
      if (room <= 0) {
        await new Promise<void>((resolve) => {
          this.slotFreed = resolve;
        });
        continue;
      }
      // A run claimed while the engine is away could only be handed back: wait for it first.
      if (!(await this.engine.answers(this.claimAbort.signal))) {
        await sleep(engineBackoffMs, undefined, { signal: this.claimAbort.signal }).catch(() => undefined);
        engineBackoffMs = Math.min(engineBackoffMs * 2, 10_000);
        continue;
      }
      engineBackoffMs = 500;
      let ops: WorkerOpRun[];
      try {
        ops = await this.client.claim(this.id, {
          limit: room,
          waitSeconds: this.options.claimWaitSeconds ?? 10,
          signal: this.claimAbort.signal,
        });
        backoffMs = 500;
      } catch (error) {
        if (!this.isRunning()) break;
        if (error instanceof GyozaApiError && error.code === 'WORKER_NOT_ACTIVE') {
          await this.heartbeat().catch(() => undefined);
        }
        this.logger.warn({ err: (error as Error).message }, 'claim failed; retrying');
        await sleep(backoffMs, undefined, { signal: this.claimAbort.signal }).catch(() => undefined);
        backoffMs = Math.min(backoffMs * 2, 10_000);
        continue;
      }
      // Ops answered as stop() aborts the claim are handed back rather than started.
      for (const op of ops) {
        if (this.isRunning()) this.execute(op);
        else await this.release(op.id, op.attempt, op.assignment_id);
      }
    }
  }

  /** Runs one claimed op; it counts against `maxParallel` until its last report is sent. */
  private execute(op: OpToRun): void {
    this.logger.info({ run: op.id, attempt: op.attempt, image: op.image }, 'running');
    // The server gave this run again (it took back the earlier claim, whose answer came late):
    // the earlier copy is stale and fenced off; this one replaces it.
    void this.attempts
      .get(op.id)
      ?.attempt.cancel()
      .catch(() => undefined);
    const attempt = new Attempt({
      op,
      client: this.client,
      docker: this.docker,
      workerId: this.id,
      networkMode: this.options.networkMode ?? 'bridge',
      hardening: this.options.hardening,
      logger: this.logger,
      logBatchMs: this.options.logBatchMs,
      killTimeoutMs: this.options.killTimeoutMs,
      puller: this.puller,
      pullPolicy: this.options.pullPolicy ?? 'if-not-present',
      release: (reason) => this.release(op.id, op.attempt, op.assignment_id, reason),
    });
    const ended = attempt.run().finally(() => {
      if (this.attempts.get(op.id)?.attempt === attempt) this.attempts.delete(op.id);
      this.slotFreed?.();
    });
    this.attempts.set(op.id, { attempt, ended });
  }
}

/** Creates an agent and starts it; resolves once it is registered and claiming. */
export async function startWorker(options: WorkerOptions = {}): Promise<WorkerAgent> {
  const agent = new WorkerAgent(options);
  await agent.start();
  return agent;
}

/** Whether `promise` settles within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), expired]);
  } finally {
    clearTimeout(timer);
  }
}
