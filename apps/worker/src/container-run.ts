import { createInterface } from 'node:readline';
import { PassThrough } from 'node:stream';
import type { ImagePullPolicy } from '@gyoza/domain';
import type Docker from 'dockerode';
import { firstFileOf, gyozaArchive } from './archive';

/** What the worker gets from a claim. */
export interface OpToRun {
  id: string;
  attempt: number;
  image: string;
  /** The run's pull policy; absent: the worker's default. */
  image_pull_policy?: ImagePullPolicy;
  inputs: Record<string, unknown>;
  constraints: { cpu_cores: number; ram_mb: number; gpu_count: number; shm_size_mb?: number };
  gpu_ids: number[];
  /** The claim's assignment, named in every report (fencing); absent only from older servers. */
  assignment_id?: string;
}

export interface ContainerOutcome {
  exitCode: number;
  oomKilled: boolean;
  outputs?: Record<string, unknown>;
  /** Set when /gyoza/outputs.json exists but is not a JSON object. */
  outputsError?: string;
}

/**
 * What every op container gets unless the worker relaxes it (docs/worker.md): ops are
 * untrusted code from whoever may create runs, so a setuid binary must not gain root, a fork
 * bomb must not take the host's PIDs, a chatty op must not fill the disk with its log, and
 * orphaned children must be reaped.
 */
export interface ContainerHardening {
  /**
   * Lets processes gain privileges (setuid binaries, file capabilities); off, the container
   * runs with `no-new-privileges`.
   * @defaultValue false
   */
  allowPrivilegeEscalation?: boolean;
  /**
   * Processes (and threads) one container may have at once; 0: no limit.
   * @defaultValue 4096
   */
  pidsLimit?: number;
  /**
   * Size of one file of the container's own log (json-file) before it rotates, in MB.
   * gyoza streams the output to the server anyway; this bounds the copy on the worker's disk.
   * @defaultValue 10
   */
  logMaxSizeMb?: number;
  /**
   * Rotated log files kept per container.
   * @defaultValue 3
   */
  logMaxFiles?: number;
  /**
   * Runs Docker's init as PID 1, which reaps zombies and forwards signals (`docker run --init`).
   * @defaultValue true
   */
  init?: boolean;
}

export const HARDENING_DEFAULTS: Required<ContainerHardening> = Object.freeze({
  allowPrivilegeEscalation: false,
  pidsLimit: 4096,
  logMaxSizeMb: 10,
  logMaxFiles: 3,
  init: true,
});

export const LABELS = { run: 'gyoza.run_id', worker: 'gyoza.worker_id', attempt: 'gyoza.attempt' } as const;
const MAX_OUTPUTS_BYTES = 1 << 20;

/**
 * Bytes of one input variable at most. Linux refuses to start a process whose single
 * environment string is over 128 KiB ("argument list too long"); a larger input is read
 * from /gyoza/inputs.json instead.
 */
export const MAX_INPUT_ENV_BYTES = 64 * 1024;
/** Bytes of all input variables together at most (the kernel also bounds the whole environment). */
const MAX_INPUTS_ENV_BYTES = 256 * 1024;

/**
 * The inputs in the environment: `GYOZA_INPUTS` (the JSON) and `GYOZA_INPUT_<NAME>` for each
 * string, number or boolean input, so shell ops need no JSON parser. A variable over
 * MAX_INPUT_ENV_BYTES, or one past MAX_INPUTS_ENV_BYTES for all of them, is left out: the op
 * reads /gyoza/inputs.json, which always holds them all.
 */
export function inputEnv(inputs: Record<string, unknown>): string[] {
  const candidates = [
    `GYOZA_INPUTS=${JSON.stringify(inputs)}`,
    ...Object.entries(inputs)
      .filter(([, v]) => ['string', 'number', 'boolean'].includes(typeof v))
      .map(([k, v]) => `GYOZA_INPUT_${k.toUpperCase().replace(/[^A-Z0-9]/g, '_')}=${String(v)}`),
  ];
  let total = 0;
  const env: string[] = [];
  for (const variable of candidates) {
    const bytes = Buffer.byteLength(variable);
    if (bytes > MAX_INPUT_ENV_BYTES || total + bytes > MAX_INPUTS_ENV_BYTES) continue;
    total += bytes;
    env.push(variable);
  }
  return env;
}

/**
 * The container of one attempt: inputs in the environment (see inputEnv) and, put in by the
 * agent, /gyoza/inputs.json, CPU, memory and /dev/shm from the run's constraints, the assigned GPUs
 * as an NVIDIA device request, the worker's hardening (see ContainerHardening), labels that
 * let a restarted agent find what it left behind.
 */
export function containerSpec(
  op: OpToRun,
  workerId: string,
  networkMode: string,
  hardening: ContainerHardening = {},
): Docker.ContainerCreateOptions {
  const harden = { ...HARDENING_DEFAULTS, ...hardening };
  const env = [`GYOZA_RUN_ID=${op.id}`, `GYOZA_ATTEMPT=${op.attempt}`, ...inputEnv(op.inputs)];
  const hostConfig: Docker.HostConfig = {
    NetworkMode: networkMode,
    Init: harden.init,
    SecurityOpt: harden.allowPrivilegeEscalation ? [] : ['no-new-privileges'],
    LogConfig: {
      Type: 'json-file',
      Config: { 'max-size': `${harden.logMaxSizeMb}m`, 'max-file': String(harden.logMaxFiles) },
    },
  };
  if (harden.pidsLimit > 0) hostConfig.PidsLimit = harden.pidsLimit;
  if (op.constraints.shm_size_mb) hostConfig.ShmSize = op.constraints.shm_size_mb * 1024 * 1024;
  if (op.constraints.cpu_cores > 0) hostConfig.NanoCpus = Math.round(op.constraints.cpu_cores * 1e9);
  if (op.constraints.ram_mb > 0) {
    hostConfig.Memory = op.constraints.ram_mb * 1024 * 1024;
    hostConfig.MemorySwap = hostConfig.Memory; // no swap: the limit is the limit
  }
  if (op.gpu_ids.length > 0) {
    env.push(`NVIDIA_VISIBLE_DEVICES=${op.gpu_ids.join(',')}`);
    hostConfig.DeviceRequests = [{ Driver: 'nvidia', DeviceIDs: op.gpu_ids.map(String), Capabilities: [['gpu']] }];
  }
  return {
    Image: op.image,
    Env: env,
    Labels: { [LABELS.run]: op.id, [LABELS.worker]: workerId, [LABELS.attempt]: String(op.attempt) },
    HostConfig: hostConfig,
    Tty: false,
  };
}

/**
 * One attempt of an op as one container (see containerSpec): started with its inputs file,
 * its output lines streamed, its outputs file read at the exit.
 */
export class ContainerRun {
  private container?: Docker.Container;
  private logsDone: Promise<void> = Promise.resolve();

  constructor(
    private readonly docker: Docker,
    readonly op: OpToRun,
    private readonly workerId: string,
    private readonly networkMode: string,
    private readonly hardening: ContainerHardening = {},
  ) {}

  async start(onLine: (stream: 'stdout' | 'stderr', line: string) => void): Promise<void> {
    this.container = await this.docker.createContainer(
      containerSpec(this.op, this.workerId, this.networkMode, this.hardening),
    );
    const inputs = JSON.stringify(this.op.inputs);
    await this.container.putArchive(gyozaArchive('inputs.json', inputs), { path: '/' });
    const stream = await this.container.attach({ stream: true, stdout: true, stderr: true });
    const out = new PassThrough();
    const err = new PassThrough();
    this.docker.modem.demuxStream(stream, out, err);
    const lines = (source: PassThrough, name: 'stdout' | 'stderr') =>
      new Promise<void>((resolve) => {
        createInterface({ input: source, crlfDelay: Number.POSITIVE_INFINITY })
          .on('line', (line) => onLine(name, line))
          .on('close', () => resolve());
      });
    this.logsDone = Promise.all([lines(out, 'stdout'), lines(err, 'stderr')]).then(() => undefined);
    stream.on('end', () => {
      out.end();
      err.end();
    });
    await this.container.start();
  }

  /** Waits for the exit, reads /gyoza/outputs.json, and removes the container. */
  async wait(): Promise<ContainerOutcome> {
    const container = this.required();
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    // Give the log stream a moment to drain the last lines.
    let drained: NodeJS.Timeout | undefined;
    await Promise.race([this.logsDone, new Promise((resolve) => (drained = setTimeout(resolve, 2000)))]);
    clearTimeout(drained);
    const info = await container.inspect();
    const outcome: ContainerOutcome = { exitCode: StatusCode, oomKilled: Boolean(info.State.OOMKilled) };
    try {
      const archive = await container.getArchive({ path: '/gyoza/outputs.json' });
      const text = await firstFileOf(archive, MAX_OUTPUTS_BYTES);
      if (text !== undefined) {
        const parsed = JSON.parse(text);
        if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) outcome.outputs = parsed;
        else outcome.outputsError = '/gyoza/outputs.json is not a JSON object';
      }
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      if (status !== 404) outcome.outputsError = `cannot read /gyoza/outputs.json: ${(error as Error).message}`;
    }
    await this.remove();
    return outcome;
  }

  /**
   * Stops the op as `docker stop` does, SIGTERM then SIGKILL after `graceSeconds` (cancel,
   * timeout, shutdown: it may save its work and exit), then removes the container.
   */
  async stop(graceSeconds: number): Promise<void> {
    if (!this.container) return;
    await this.container.stop({ t: graceSeconds }).catch((error: { statusCode?: number }) => {
      // 304: not running (never started, or already exited); 404: already removed.
      if (error.statusCode !== 304 && error.statusCode !== 404 && error.statusCode !== 409) throw error;
    });
    await this.remove();
  }

  /** Kills and removes the container at once (after its exit, or when running it failed). */
  async remove(): Promise<void> {
    if (!this.container) return;
    await this.container.remove({ force: true }).catch((error: { statusCode?: number }) => {
      if (error.statusCode !== 404 && error.statusCode !== 409) throw error;
    });
  }

  private required(): Docker.Container {
    if (!this.container) throw new Error('container not started');
    return this.container;
  }
}

/** Removes containers a previous agent with this id left behind (it crashed or was killed). */
export async function removeOrphans(docker: Docker, workerId: string): Promise<string[]> {
  const containers = await docker.listContainers({ all: true, filters: { label: [`${LABELS.worker}=${workerId}`] } });
  for (const c of containers) await docker.getContainer(c.Id).remove({ force: true });
  return containers.map((c) => c.Labels[LABELS.run] ?? c.Id);
}
