/**
 * What a worker agent is told at start (`WorkerOptions`, checked by `checkWorkerOptions`) and
 * what `startWorker` hands back (`RunningWorker`).
 */
import type { GyozaClient } from '@gyoza/client';
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import type { ContainerHardening } from './container-run';
import type { PullPolicy } from './image-puller';
import type { WorkerResourcesInput } from './resources';

export interface WorkerOptions {
  /** @defaultValue a `GyozaClient` for `GYOZA_SERVER_URL` and `GYOZA_API_KEY` */
  client?: GyozaClient;
  /** @defaultValue the host name */
  id?: string;
  /** @defaultValue none */
  tags?: string[];
  /** What to offer; a field left out is detected (all CPU cores, all RAM, nvidia-smi's GPUs). */
  resources?: Partial<WorkerResourcesInput>;
  /**
   * Runs at once at most; an integer of at least 1.
   * @defaultValue 4
   */
  maxParallel?: number;
  /** @defaultValue the local engine (`DOCKER_HOST` or the local socket) */
  docker?: Docker;
  /**
   * Docker network of op containers (`none`: no network).
   * @defaultValue 'bridge'
   */
  networkMode?: string;
  /**
   * Time between heartbeats; more than 0.
   * @defaultValue 5000
   */
  heartbeatIntervalMs?: number;
  /**
   * Long-poll length of each claim.
   * @defaultValue 10
   */
  claimWaitSeconds?: number;
  /**
   * How long a run's output lines gather before they are posted as one LOG event.
   * @defaultValue 250
   */
  logBatchMs?: number;
  /**
   * On stop, how long unsent reports may still be retried after the grace period.
   * @defaultValue 10000
   */
  reportTimeoutMs?: number;
  /**
   * When to pull an op's image, for runs that name no `image_pull_policy` of their own:
   * `if-not-present`, `always` or `never`.
   * @defaultValue 'if-not-present'
   */
  pullPolicy?: PullPolicy;
  /**
   * A pull that takes longer is aborted and fails the attempt (retried per the run's policy).
   * @defaultValue 1800
   */
  pullTimeoutSeconds?: number;
  /**
   * A Docker config.json whose `auths` hold registry credentials; they win over those of
   * `$DOCKER_CONFIG/config.json` (or `~/.docker/config.json`). Sent to the engine only.
   * @defaultValue none
   */
  registryAuthFile?: string;
  /**
   * What a trusted fleet relaxes of the op containers' defaults (`no-new-privileges`, 4096 PIDs,
   * 3 log files of 10 MB, an init process); see `ContainerHardening`.
   * @defaultValue all defaults hold
   */
  hardening?: ContainerHardening;
  /**
   * How often the images the engine holds are listed again for the heartbeat (which the
   * scheduler may use to prefer a worker that already has a run's image).
   * @defaultValue 60000
   */
  imagesRefreshMs?: number;
  /**
   * How long an op stopped by the agent (cancelled, timed out, or still running when the agent
   * stops) has between SIGTERM and SIGKILL, to save its work and exit.
   * @defaultValue 10000
   */
  killTimeoutMs?: number;
  /** @defaultValue pino at level info */
  logger?: Logger;
}

/** A `WorkerOptions` value the agent cannot work with; `option` names it. */
export class WorkerOptionError extends Error {
  constructor(
    readonly option: keyof WorkerOptions,
    rule: string,
    value: unknown,
  ) {
    super(`worker option ${option} must be ${rule} (got ${String(value)})`);
    this.name = 'WorkerOptionError';
  }
}

/** Throws a {@link WorkerOptionError} for the first numeric option out of its range. */
export function checkWorkerOptions(options: WorkerOptions): void {
  const { maxParallel, heartbeatIntervalMs, killTimeoutMs } = options;
  if (maxParallel !== undefined && !(Number.isInteger(maxParallel) && maxParallel >= 1)) {
    throw new WorkerOptionError('maxParallel', 'an integer of at least 1', maxParallel);
  }
  if (heartbeatIntervalMs !== undefined && !(Number.isFinite(heartbeatIntervalMs) && heartbeatIntervalMs > 0)) {
    throw new WorkerOptionError('heartbeatIntervalMs', 'a number of milliseconds above 0', heartbeatIntervalMs);
  }
  if (killTimeoutMs !== undefined && !(Number.isFinite(killTimeoutMs) && killTimeoutMs >= 0)) {
    throw new WorkerOptionError('killTimeoutMs', 'a number of milliseconds of at least 0', killTimeoutMs);
  }
}

/** An agent that has been started, as `startWorker` returns it. */
export interface RunningWorker {
  id: string;
  /** Stops claiming, lets runs finish for up to `graceMs`, then stops them and reports. */
  stop(graceMs?: number): Promise<void>;
}
