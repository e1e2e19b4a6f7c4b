import { hostname } from 'node:os';
import { GyozaApiError, GyozaClient, type WorkerOpRun } from '@gyoza/client';
import Docker from 'dockerode';
import pino, { type Logger } from 'pino';
import { ContainerRun, type OpToRun, removeOrphans } from './container-run';
import { detectResources, type WorkerResourcesInput } from './resources';
import { RunReporter } from './run-reporter';

export interface WorkerOptions {
  client?: GyozaClient;
  id?: string;
  tags?: string[];
  resources?: Partial<WorkerResourcesInput>;
  /** Runs at once at most. Default 4. */
  maxParallel?: number;
  docker?: Docker;
  /** Docker network of op containers. Default 'bridge'. */
  networkMode?: string;
  heartbeatIntervalMs?: number;
  /** Long-poll length of each claim. Default 10. */
  claimWaitSeconds?: number;
  logBatchMs?: number;
  /** On stop, how long unsent reports may still be retried after the grace period. Default 10 s. */
  reportTimeoutMs?: number;
  logger?: Logger;
}

export interface RunningWorker {
  id: string;
  /** Stops claiming, lets runs finish for up to `graceMs`, then stops them and reports. */
  stop(graceMs?: number): Promise<void>;
}

const PROGRESS_LINE = /^::gyoza progress (\d+(?:\.\d+)?)\s*$/;
const TAIL_LINES = 20;

interface ActiveRun {
  op: OpToRun;
  container: ContainerRun;
  reporter: RunReporter;
  /** Set when the server cancelled it or we are shutting down: no outcome is reported. */
  abandoned?: 'cancelled' | 'shutdown';
}

/**
 * The worker agent: heartbeats its resources and running runs, long-poll claims while it
 * has room, runs each op in a container and reports STARTED, LOG, PROGRESS and the outcome.
 */
export async function startWorker(options: WorkerOptions = {}): Promise<RunningWorker> {
  const id = options.id ?? hostname();
  const logger = (options.logger ?? pino({ level: 'info' })).child({ worker: id });
  const client = options.client ?? new GyozaClient();
  const docker = options.docker ?? new Docker();
  const maxParallel = options.maxParallel ?? 4;
  const resources = detectResources(options.resources);
  const active = new Map<string, ActiveRun>();
  const tasks = new Set<Promise<void>>();
  const claimAbort = new AbortController();
  let stopping = false;
  let slotFreed: () => void = () => {};

  const orphans = await removeOrphans(docker, id);
  if (orphans.length) logger.warn({ runs: orphans }, 'removed containers left by an earlier agent');

  const heartbeat = async () => {
    const answer = await client.heartbeat({
      worker_id: id,
      resources,
      tags: options.tags ?? [],
      running_ops: [...active.keys()],
    });
    for (const runId of answer.stop_runs) {
      const entry = active.get(runId);
      if (entry && !entry.abandoned) {
        logger.info({ run: runId }, 'server says stop: removing the container');
        entry.abandoned = 'cancelled';
        await entry.container.remove();
      }
    }
  };
  await heartbeat();
  const beat = setInterval(() => {
    heartbeat().catch((error: Error) => logger.warn({ err: error.message }, 'heartbeat failed'));
  }, options.heartbeatIntervalMs ?? 5000);

  const execute = (op: OpToRun): Promise<void> => {
    const task = run(op).finally(() => tasks.delete(task));
    return task;
  };

  const run = async (op: OpToRun) => {
    const entry = { op } as ActiveRun;
    const tail: string[] = [];
    entry.reporter = new RunReporter(
      client,
      op.id,
      op.attempt,
      id,
      logger,
      () => {
        if (!entry.abandoned) entry.abandoned = 'cancelled';
        void entry.container.remove().catch(() => undefined);
      },
      options.logBatchMs,
    );
    entry.container = new ContainerRun(docker, op, id, options.networkMode ?? 'bridge');
    active.set(op.id, entry);
    try {
      entry.reporter.send({
        type: 'STARTED',
        payload: { worker_id: id, ...(op.gpu_ids.length ? { gpu_id: op.gpu_ids[0] } : {}) },
      });
      await entry.reporter.drain();
      if (entry.reporter.refused) return;
      await entry.container.start((_stream, line) => {
        tail.push(line);
        if (tail.length > TAIL_LINES) tail.shift();
        const progress = PROGRESS_LINE.exec(line);
        if (progress) entry.reporter.send({ type: 'PROGRESS', msg: Math.min(100, Number(progress[1])) });
        else entry.reporter.line(line);
      });
      const outcome = await entry.container.wait();
      if (entry.abandoned) return;
      if (outcome.exitCode === 0 && !outcome.outputsError) {
        entry.reporter.send({ type: 'COMPLETED', payload: { outputs: outcome.outputs ?? {} } });
      } else {
        const reason = outcome.oomKilled
          ? `OOM killed (memory limit ${op.constraints.ram_mb} MB), exit code ${outcome.exitCode}`
          : (outcome.outputsError ?? `exit code ${outcome.exitCode}`);
        const last = tail.length ? `\nlast lines:\n${tail.join('\n')}` : '';
        entry.reporter.send({
          type: 'FAILED',
          payload: { error_message: `${reason}${last}`, exit_code: outcome.exitCode },
        });
      }
    } catch (error) {
      // As on every path, the container is gone before the outcome is reported.
      await entry.container.remove().catch(() => undefined);
      if (!entry.abandoned) {
        logger.error({ run: op.id, err: (error as Error).message }, 'container failed');
        entry.reporter.send({
          type: 'FAILED',
          payload: { error_message: `worker could not run the container: ${(error as Error).message}` },
        });
      }
    } finally {
      if (entry.abandoned === 'shutdown') {
        entry.reporter.send({ type: 'FAILED', payload: { error_message: 'worker shutting down' } });
      }
      await entry.reporter.drain();
      await entry.container.remove().catch(() => undefined);
      active.delete(op.id);
      slotFreed();
    }
  };

  const claimLoop = (async () => {
    let backoff = 500;
    while (!stopping) {
      const room = maxParallel - active.size;
      if (room <= 0) {
        await new Promise<void>((resolve) => {
          slotFreed = resolve;
        });
        continue;
      }
      let ops: WorkerOpRun[];
      try {
        ops = await client.claim(id, {
          limit: room,
          waitSeconds: options.claimWaitSeconds ?? 10,
          signal: claimAbort.signal,
        });
        backoff = 500;
      } catch (error) {
        if (stopping) break;
        if (error instanceof GyozaApiError && error.code === 'WORKER_NOT_ACTIVE') {
          await heartbeat().catch(() => undefined);
        }
        logger.warn({ err: (error as Error).message }, 'claim failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, backoff));
        backoff = Math.min(backoff * 2, 10_000);
        continue;
      }
      for (const op of ops) {
        logger.info({ run: op.id, attempt: op.attempt, image: op.image }, 'running');
        // execute() registers the run in `active` before its first await, so `room` stays right.
        tasks.add(execute(op));
      }
    }
  })();

  return {
    id,
    async stop(graceMs = 30_000) {
      if (stopping) return;
      stopping = true;
      claimAbort.abort();
      slotFreed();
      await claimLoop;
      const finished = Promise.all([...tasks]);
      if (!(await settlesWithin(finished, graceMs))) {
        for (const entry of active.values()) {
          entry.abandoned = 'shutdown';
          await entry.container.remove().catch(() => undefined);
        }
        // Reports are retried while the server is away; do not wait for it forever.
        if (!(await settlesWithin(finished, options.reportTimeoutMs ?? 10_000))) {
          logger.error({ runs: [...active.keys()] }, 'exiting without reporting these runs: the server is unreachable');
        }
      }
      clearInterval(beat);
      await heartbeat().catch(() => undefined);
    },
  };
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
