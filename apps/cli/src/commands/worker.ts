import { IMAGE_PULL_POLICIES, type ImagePullPolicy } from '@gyoza/domain';
import type { Argv, CommandModule } from 'yargs';
import { UsageError } from '../cli-error';
import { clientFrom, type GlobalArgs } from '../context';

export interface WorkerStartArgs extends GlobalArgs {
  id?: string;
  tags?: string;
  cpu?: number;
  'ram-mb'?: number;
  gpus?: string;
  'max-parallel'?: number;
  'docker-host'?: string;
  network?: string;
  'heartbeat-seconds'?: number;
  'grace-seconds'?: number;
  'pull-policy'?: string;
  'pull-timeout-seconds'?: number;
  'registry-auth'?: string;
  'allow-privilege-escalation'?: boolean;
  'pids-limit'?: number;
  'log-max-size-mb'?: number;
  'log-max-files'?: number;
  init?: boolean;
  'kill-timeout-seconds'?: number;
}

export function workerOptions(y: Argv<GlobalArgs>): Argv<WorkerStartArgs> {
  return y
    .option('id', { type: 'string', describe: 'worker id (default: host name)' })
    .option('tags', { type: 'string', describe: 'worker tags, comma separated' })
    .option('cpu', { type: 'number', describe: 'CPU cores to offer (default: all)' })
    .option('ram-mb', { type: 'number', describe: 'RAM to offer in MB (default: all)' })
    .option('gpus', { type: 'string', describe: 'GPUs as id:vram_mb[:tag+tag],… or none (default: nvidia-smi)' })
    .option('max-parallel', { type: 'number', default: 4, describe: 'runs at once at most' })
    .option('docker-host', {
      type: 'string',
      describe: 'Docker engine socket or tcp://host:port (default: DOCKER_HOST or the local socket)',
    })
    .option('network', {
      type: 'string',
      default: 'bridge',
      describe: 'Docker network of op containers (none: no network)',
    })
    .option('heartbeat-seconds', { type: 'number', default: 5, describe: 'heartbeat period (above 0)' })
    .option('grace-seconds', {
      type: 'number',
      default: 30,
      describe: 'on SIGTERM, how long running ops may finish',
    })
    .option('pull-policy', {
      choices: IMAGE_PULL_POLICIES,
      default: 'if-not-present',
      describe: 'when to pull an image, for runs that name no image_pull_policy',
    })
    .option('pull-timeout-seconds', {
      type: 'number',
      default: 1800,
      describe: 'a pull that takes longer fails the attempt (retried per its policy)',
    })
    .option('registry-auth', {
      type: 'string',
      describe: 'a Docker config.json whose auths win over $DOCKER_CONFIG/config.json or ~/.docker/config.json',
    })
    .option('allow-privilege-escalation', {
      type: 'boolean',
      default: false,
      describe: 'run op containers without no-new-privileges (setuid binaries work)',
    })
    .option('pids-limit', { type: 'number', default: 4096, describe: 'processes per op container (0: no limit)' })
    .option('log-max-size-mb', { type: 'number', default: 10, describe: "size of one file of an op container's log" })
    .option('log-max-files', { type: 'number', default: 3, describe: 'rotated log files kept per op container' })
    .option('init', {
      type: 'boolean',
      default: true,
      describe: 'an init process reaps zombies in op containers (--no-init: none)',
    })
    .option('kill-timeout-seconds', {
      type: 'number',
      default: 10,
      describe: 'an op the worker stops (cancel, timeout, shutdown) gets SIGTERM, then SIGKILL after this',
    }) as Argv<WorkerStartArgs>;
}

/** Starts the agent from parsed flags; resolves once it is registered. */
export async function startWorkerFromArgs(argv: WorkerStartArgs) {
  const worker = await import('@gyoza/worker');
  const Docker = (await import('dockerode')).default;
  let gpus: ReturnType<typeof worker.parseGpus> | undefined;
  try {
    gpus = argv.gpus === undefined ? undefined : worker.parseGpus(argv.gpus);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const integers = [
    'max-parallel',
    'pids-limit',
    'log-max-size-mb',
    'log-max-files',
    'pull-timeout-seconds',
    'kill-timeout-seconds',
  ] as const;
  for (const flag of integers) {
    const value = argv[flag];
    const least = flag === 'pids-limit' || flag === 'kill-timeout-seconds' ? 0 : 1;
    if (value !== undefined && (!Number.isInteger(value) || value < least)) {
      throw new UsageError(`--${flag} must be an integer of at least ${least}`);
    }
  }
  const heartbeatSeconds = argv['heartbeat-seconds'];
  if (heartbeatSeconds !== undefined && !(Number.isFinite(heartbeatSeconds) && heartbeatSeconds > 0)) {
    throw new UsageError('--heartbeat-seconds must be a number above 0');
  }
  const dockerHost = argv['docker-host'];
  const docker = dockerHost
    ? dockerHost.startsWith('tcp://')
      ? new Docker({ host: new URL(dockerHost).hostname, port: Number(new URL(dockerHost).port) })
      : new Docker({ socketPath: dockerHost.replace(/^unix:\/\//, '') })
    : new Docker();
  try {
    await docker.ping();
  } catch (error) {
    throw new UsageError(
      `cannot reach the Docker engine${dockerHost ? ` at ${dockerHost}` : ''}: ${(error as Error).message}`,
    );
  }
  return worker.startWorker({
    client: clientFrom(argv),
    id: argv.id,
    tags: argv.tags ? argv.tags.split(',').filter(Boolean) : [],
    resources: { cpu_cores: argv.cpu, ram_mb: argv['ram-mb'], gpus },
    maxParallel: argv['max-parallel'],
    docker,
    networkMode: argv.network,
    heartbeatIntervalMs: (argv['heartbeat-seconds'] ?? 5) * 1000,
    pullPolicy: argv['pull-policy'] as ImagePullPolicy | undefined,
    pullTimeoutSeconds: argv['pull-timeout-seconds'],
    registryAuthFile: argv['registry-auth'],
    killTimeoutMs: argv['kill-timeout-seconds'] === undefined ? undefined : argv['kill-timeout-seconds'] * 1000,
    hardening: {
      allowPrivilegeEscalation: argv['allow-privilege-escalation'],
      pidsLimit: argv['pids-limit'],
      logMaxSizeMb: argv['log-max-size-mb'],
      logMaxFiles: argv['log-max-files'],
      init: argv.init,
    },
  });
}

/** SIGTERM/SIGINT: stop claiming, let runs finish within the grace period, then exit. */
export function stopOnSignals(stop: () => Promise<void>): void {
  let once = false;
  const handler = () => {
    if (once) return;
    once = true;
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', handler);
  process.once('SIGINT', handler);
}

const start: CommandModule<GlobalArgs, WorkerStartArgs> = {
  command: 'start',
  describe: 'Start a worker agent: heartbeat, claim, run ops as Docker containers',
  builder: workerOptions,
  handler: async (argv) => {
    const running = await startWorkerFromArgs(argv);
    process.stderr.write(`gyoza worker ${running.id} started\n`);
    stopOnSignals(() => running.stop((argv['grace-seconds'] ?? 30) * 1000));
  },
};

export const workerCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'worker <command>',
  describe: 'Run a worker agent',
  builder: (y) => y.command(start).demandCommand(1, 'name a worker command: start'),
  handler: () => undefined,
};
