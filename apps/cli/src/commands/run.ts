import type { EventJson, RunJson } from '@gyoza/client';
import type { ConstraintsInput, ImagePullPolicy, RunState } from '@gyoza/domain';
import { IMAGE_PULL_POLICIES, RUN_STATES } from '@gyoza/domain';
import type { Argv, CommandModule } from 'yargs';
import { EXIT_OK, UsageError } from '../cli-error';
import { clientFrom, type GlobalArgs, note, print, printJson } from '../context';
import { parseInputFlags, readInputsFile } from '../inputs';
import { ago, formatTable } from '../table';
import { formatEventLine, watchRun } from '../watch';
import { runDeliveries } from './deliveries';

interface CreateArgs extends GlobalArgs {
  op?: string;
  version?: string;
  image?: string;
  input: string[];
  'inputs-file'?: string;
  priority?: number;
  wait?: boolean;
  'idempotency-key'?: string;
  'cpu-cores'?: number;
  'ram-mb'?: number;
  'vram-mb'?: number;
  'gpu-count'?: number;
  'gpu-tag'?: string[];
  'worker-tag'?: string[];
  'timeout-seconds'?: number;
  'shm-size-mb'?: number;
  'pull-policy'?: ImagePullPolicy;
  'max-attempts'?: number;
}
interface IdArgs extends GlobalArgs {
  id: string;
}
interface CancelArgs extends IdArgs {
  reason?: string;
}
interface LsArgs extends GlobalArgs {
  state?: string[];
  op?: string;
  worker?: string;
  limit: number;
  cursor?: string;
  all?: boolean;
}
interface LogsArgs extends IdArgs {
  follow?: boolean;
}

/** Where the process exit code goes; handlers set it instead of calling process.exit. */
function exitWith(code: number): void {
  if (code !== EXIT_OK) process.exitCode = code;
}

function opLabel(run: RunJson): string {
  return run.definition_id ? `${run.definition_id}@${run.definition_version}` : run.image;
}

function constraintFlags(argv: CreateArgs): ConstraintsInput | undefined {
  const c: ConstraintsInput = {};
  if (argv['cpu-cores'] !== undefined) c.cpu_cores = argv['cpu-cores'];
  if (argv['ram-mb'] !== undefined) c.ram_mb = argv['ram-mb'];
  if (argv['vram-mb'] !== undefined) c.vram_mb = argv['vram-mb'];
  if (argv['gpu-count'] !== undefined) c.gpu_count = argv['gpu-count'];
  if (argv['gpu-tag']?.length) c.gpu_tags = argv['gpu-tag'];
  if (argv['worker-tag']?.length) c.worker_tags = argv['worker-tag'];
  if (argv['timeout-seconds'] !== undefined) c.timeout_seconds = argv['timeout-seconds'];
  if (argv['shm-size-mb'] !== undefined) c.shm_size_mb = argv['shm-size-mb'];
  return Object.keys(c).length > 0 ? c : undefined;
}

const create: CommandModule<GlobalArgs, CreateArgs> = {
  command: 'create [op]',
  describe: 'Start a run of a deployed op, or of an image with --image',
  builder: (y) =>
    y
      .positional('op', { type: 'string', describe: 'op id (omit with --image)' })
      .option('version', { type: 'string', describe: 'op version (default: latest)' })
      .option('image', { type: 'string', describe: 'ad-hoc run of this Docker image, without a definition' })
      .option('input', { type: 'string', array: true, default: [], describe: 'an input as name=value (repeatable)' })
      .option('inputs-file', { type: 'string', describe: 'a JSON file of inputs; --input wins on conflicts' })
      .option('priority', { type: 'number', describe: 'higher runs first (integer, default 0)' })
      .option('wait', { type: 'boolean', describe: 'watch the run to its end; the exit code tells the outcome' })
      .option('idempotency-key', { type: 'string', describe: 'makes repeating this command create one run' })
      .option('cpu-cores', { type: 'number', group: 'Constraints:' })
      .option('ram-mb', { type: 'number', group: 'Constraints:' })
      .option('vram-mb', { type: 'number', group: 'Constraints:', describe: 'per GPU' })
      .option('gpu-count', { type: 'number', group: 'Constraints:' })
      .option('gpu-tag', { type: 'string', array: true, group: 'Constraints:' })
      .option('worker-tag', { type: 'string', array: true, group: 'Constraints:' })
      .option('timeout-seconds', { type: 'number', group: 'Constraints:' })
      .option('shm-size-mb', { type: 'number', group: 'Constraints:', describe: "the container's /dev/shm" })
      .option('pull-policy', {
        choices: IMAGE_PULL_POLICIES,
        describe: "when the worker pulls the image (default: the op's, else the worker's)",
      })
      .option('max-attempts', { type: 'number', describe: 'retry policy of an ad-hoc run (an op has its own)' })
      .check((a) => {
        if (!a.op && !a.image) throw new UsageError('name an op, or give --image for an ad-hoc run');
        if (a.op && a.image) throw new UsageError('give an op or --image, not both');
        if (a.image && a.version) throw new UsageError('--version only applies to an op');
        // The API takes a run's retry policy from its definition and refuses one beside it.
        if (a.op && a['max-attempts'] !== undefined) {
          throw new UsageError(
            "--max-attempts only applies to an ad-hoc run (--image); an op's runs use its retry_policy",
          );
        }
        if (!Array.isArray(a.input) || a.input.some((v) => typeof v !== 'string')) {
          throw new UsageError('--input takes name=value, once per input (--input a=1 --input b=2)');
        }
        return true;
      }) as Argv<CreateArgs>,
  handler: async (argv) => {
    const client = clientFrom(argv);
    const fromFile = argv['inputs-file'] ? readInputsFile(argv['inputs-file']) : {};
    const constraints = constraintFlags(argv);
    const idempotencyKey = argv['idempotency-key'];
    let run: RunJson;
    if (argv.op) {
      // The op's input types turn `--input n=3` into 3 or "3" as declared.
      const specs = argv.input.length > 0 ? (await client.getDefinition(argv.op, argv.version)).input_specs : {};
      const inputs = { ...fromFile, ...parseInputFlags(argv.input, specs) };
      run = await client.createRunFromDefinition(
        argv.op,
        { inputs, priority: argv.priority, constraints, image_pull_policy: argv['pull-policy'] },
        { version: argv.version, idempotencyKey },
      );
    } else {
      const inputs = { ...fromFile, ...parseInputFlags(argv.input) };
      run = await client.createRun(
        {
          image: argv.image,
          image_pull_policy: argv['pull-policy'],
          inputs,
          priority: argv.priority,
          constraints,
          retry_policy: argv['max-attempts'] !== undefined ? { max_attempts: argv['max-attempts'] } : undefined,
        },
        { idempotencyKey },
      );
    }
    if (argv.wait) {
      note(`created ${run.id} (${opLabel(run)})`);
      exitWith(await watchRun(client, run.id, argv.json));
      return;
    }
    if (argv.json) return printJson(run);
    note(`created ${run.id} (${opLabel(run)}, ${run.state})`);
    print(run.id);
  },
};

const idArg = (y: Argv<GlobalArgs>) => y.positional('id', { type: 'string', demandOption: true, describe: 'run id' });

export function describeRun(run: RunJson): string {
  const rows: Array<[string, string | undefined]> = [
    ['id', run.id],
    ['op', opLabel(run)],
    ['image', run.image],
    ['state', `${run.state} (attempt ${run.current_attempt}/${run.retry_policy.max_attempts})`],
    ['progress', `${run.progress}%`],
    ['priority', String(run.priority)],
    [
      'worker',
      run.worker_id ? `${run.worker_id}${run.gpu_ids.length ? ` (gpus ${run.gpu_ids.join(',')})` : ''}` : undefined,
    ],
    ['pending', run.pending_reason],
    ['retry at', run.not_before],
    ['error', run.error_message],
    ['created', run.created_at],
    ['started', run.started_at],
    ['finished', run.finished_at],
    ['inputs', JSON.stringify(run.inputs)],
    ['outputs', JSON.stringify(run.outputs)],
  ];
  return rows
    .filter((r): r is [string, string] => r[1] !== undefined)
    .map(([k, v]) => `${`${k}:`.padEnd(10)}${v}`)
    .join('\n');
}

const get: CommandModule<GlobalArgs, IdArgs> = {
  command: 'get <id>',
  describe: 'Show a run',
  builder: (y) => idArg(y) as Argv<IdArgs>,
  handler: async (argv) => {
    const run = await clientFrom(argv).getRun(argv.id);
    if (argv.json) return printJson(run);
    print(describeRun(run));
  },
};

const ls: CommandModule<GlobalArgs, LsArgs> = {
  command: 'ls',
  describe: 'List runs, newest first',
  builder: (y) =>
    y
      .option('state', { type: 'string', array: true, describe: `filter by state (${RUN_STATES.join(', ')})` })
      .option('op', { type: 'string', describe: 'only runs of this op id' })
      .option('worker', { type: 'string', describe: 'only runs on this worker' })
      .option('limit', { type: 'number', default: 50, describe: 'page size (1..1000)' })
      .option('cursor', { type: 'string', describe: 'continue from a previous page' })
      .option('all', { type: 'boolean', describe: 'fetch every page' })
      .check((a) => {
        if (a.all && a.cursor !== undefined) throw new UsageError('--all starts from the first page: drop --cursor');
        const states = (a.state ?? []).flatMap((s) => String(s).split(','));
        const bad = states.find((s) => !RUN_STATES.includes(s.toUpperCase() as RunState));
        if (bad) throw new UsageError(`--state ${bad}: expected one of ${RUN_STATES.join(', ')}`);
        return true;
      }) as Argv<LsArgs>,
  handler: async (argv) => {
    const client = clientFrom(argv);
    const state = argv.state?.flatMap((s) => s.split(',')).map((s) => s.toUpperCase() as RunState);
    const filter = { state, definition_id: argv.op, worker_id: argv.worker, limit: argv.limit };
    let runs: RunJson[] = [];
    let next: string | undefined;
    if (argv.all) {
      for await (const run of client.iterateRuns(filter)) runs.push(run);
    } else {
      const page = await client.listRuns({ ...filter, cursor: argv.cursor });
      runs = page.runs;
      next = page.next_cursor;
    }
    if (argv.json) return printJson(argv.all ? { runs } : { runs, next_cursor: next });
    print(
      formatTable(
        ['ID', 'OP', 'STATE', 'PROGRESS', 'ATTEMPT', 'WORKER', 'CREATED'],
        runs.map((r) => [
          r.id,
          opLabel(r),
          r.state,
          `${r.progress}%`,
          String(r.current_attempt),
          r.worker_id ?? '-',
          ago(r.created_at),
        ]),
      ),
    );
    if (next) note(`more: ${nextPageCommand(argv, next)}`);
  },
};

/** The command for the next page: the same filters and page size (and server), with its cursor. */
function nextPageCommand(argv: LsArgs, cursor: string): string {
  const words = ['gyoza', 'run', 'ls'];
  const add = (flag: string, value: string | number | undefined) => {
    if (value !== undefined) words.push(flag, shellQuote(String(value)));
  };
  for (const state of argv.state ?? []) add('--state', state);
  add('--op', argv.op);
  add('--worker', argv.worker);
  add('--limit', argv.limit);
  add('--server', argv.server);
  add('--cursor', cursor);
  return words.join(' ');
}

/** A word the shell reads back as is. */
function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

const attempts: CommandModule<GlobalArgs, IdArgs> = {
  command: 'attempts <id>',
  describe: "List a run's attempts",
  builder: (y) => idArg(y) as Argv<IdArgs>,
  handler: async (argv) => {
    const list = await clientFrom(argv).listAttempts(argv.id);
    if (argv.json) return printJson(list);
    print(
      formatTable(
        ['ATTEMPT', 'STATE', 'WORKER', 'GPUS', 'PROGRESS', 'STARTED', 'FINISHED', 'ERROR'],
        list.map((a) => [
          String(a.attempt),
          a.state,
          a.worker_id ?? '-',
          a.gpu_ids.join(',') || '-',
          `${a.progress}%`,
          a.started_at ?? '-',
          a.finished_at ?? '-',
          a.error_message ?? '',
        ]),
      ),
    );
  },
};

const cancel: CommandModule<GlobalArgs, CancelArgs> = {
  command: 'cancel <id>',
  describe: 'Cancel a run (its worker stops it at the next heartbeat)',
  builder: (y) => idArg(y).option('reason', { type: 'string', describe: 'recorded with the run' }) as Argv<CancelArgs>,
  handler: async (argv) => {
    const run = await clientFrom(argv).cancelRun(argv.id, argv.reason);
    if (argv.json) return printJson(run);
    print(`${run.id} ${run.state}`);
  },
};

const retry: CommandModule<GlobalArgs, IdArgs> = {
  command: 'retry <id>',
  describe: 'Start a new attempt of a FAILED or CANCELLED run',
  builder: (y) => idArg(y) as Argv<IdArgs>,
  handler: async (argv) => {
    const run = await clientFrom(argv).retryRun(argv.id);
    if (argv.json) return printJson(run);
    print(`${run.id} ${run.state} (attempt ${run.current_attempt})`);
  },
};

const logs: CommandModule<GlobalArgs, LogsArgs> = {
  command: 'logs <id>',
  describe: "Print a run's events (log lines, progress, state changes)",
  builder: (y) =>
    idArg(y).option('follow', {
      alias: 'f',
      type: 'boolean',
      describe: 'keep printing until the run ends',
    }) as Argv<LogsArgs>,
  handler: async (argv) => {
    const client = clientFrom(argv);
    // --json prints one event per line (NDJSON), so it streams with --follow too.
    const show = (e: EventJson) => print(argv.json ? JSON.stringify(e) : formatEventLine(e));
    if (argv.follow) {
      for await (const event of client.followEvents(argv.id)) show(event);
      return;
    }
    let after = 0;
    for (;;) {
      const page = await client.listEvents(argv.id, after);
      const fresh = page.events.filter((e) => e.index > after);
      if (fresh.length === 0) break;
      for (const e of fresh) show(e);
      after = fresh[fresh.length - 1]?.index ?? after;
    }
  },
};

const watch: CommandModule<GlobalArgs, IdArgs> = {
  command: 'watch <id>',
  describe: 'Follow a run live; exit 0 when it completes, 1 when it fails or is cancelled',
  builder: (y) => idArg(y) as Argv<IdArgs>,
  handler: async (argv) => {
    exitWith(await watchRun(clientFrom(argv), argv.id, argv.json));
  },
};

export const runCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'run <command>',
  describe: 'Create, follow and manage runs',
  builder: (y) =>
    y
      .command(create)
      .command(get)
      .command(ls)
      .command(attempts)
      .command(runDeliveries)
      .command(cancel)
      .command(retry)
      .command(logs)
      .command(watch)
      .demandCommand(1, 'name a run command: create, get, ls, attempts, deliveries, cancel, retry, logs, watch'),
  handler: () => undefined,
};
