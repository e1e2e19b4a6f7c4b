import { GyozaApiError } from '@gyoza/client';
import { stringify } from 'yaml';
import type { Argv, CommandModule } from 'yargs';
import { clientFrom, type GlobalArgs, print, printJson } from '../context';
import { OpFileError, readOpFile } from '../op-file';
import { ago, formatTable } from '../table';

interface DeployArgs extends GlobalArgs {
  file: string;
}
interface IdArgs extends GlobalArgs {
  id: string;
  version?: string;
}

const deploy: CommandModule<GlobalArgs, DeployArgs> = {
  command: 'deploy [file]',
  describe: 'Create or replace an op definition from its YAML file',
  builder: (y) =>
    y.positional('file', { type: 'string', default: 'gyoza.yml', describe: 'the op file' }) as Argv<DeployArgs>,
  handler: async (argv) => {
    const op = readOpFile(argv.file);
    let saved: Awaited<ReturnType<ReturnType<typeof clientFrom>['putDefinition']>>;
    try {
      saved = await clientFrom(argv).putDefinition(op.definition);
    } catch (error) {
      // The server may still refuse what the local rules accepted: point at the line too.
      if (error instanceof GyozaApiError && error.status === 400 && error.details.length > 0) {
        throw new OpFileError(
          argv.file,
          error.details.map((d) => ({ ...op.locate(d.field), message: d.message })),
        );
      }
      throw error;
    }
    if (argv.json) printJson(saved);
    else print(`deployed ${saved.id}@${saved.version} (${saved.image})`);
  },
};

const ls: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'ls',
  describe: 'List op definitions (latest version of each)',
  handler: async (argv) => {
    const defs = await clientFrom(argv).listDefinitions({ latest: true });
    if (argv.json) return printJson(defs);
    print(
      formatTable(
        ['ID', 'VERSION', 'IMAGE', 'UPDATED'],
        defs.map((d) => [d.id, d.version, d.image, ago(d.updated_at)]),
      ),
    );
  },
};

const idArg = (y: Argv<GlobalArgs>) => y.positional('id', { type: 'string', demandOption: true, describe: 'op id' });

const get: CommandModule<GlobalArgs, IdArgs> = {
  command: 'get <id>',
  describe: 'Show an op definition',
  builder: (y) =>
    idArg(y).option('version', { type: 'string', describe: 'a version (default: latest)' }) as Argv<IdArgs>,
  handler: async (argv) => {
    const def = await clientFrom(argv).getDefinition(argv.id, argv.version);
    if (argv.json) return printJson(def);
    print(stringify(def));
  },
};

const versions: CommandModule<GlobalArgs, IdArgs> = {
  command: 'versions <id>',
  describe: 'List the versions of an op, newest first',
  builder: (y) => idArg(y) as Argv<IdArgs>,
  handler: async (argv) => {
    const defs = await clientFrom(argv).listDefinitionVersions(argv.id);
    if (argv.json) return printJson(defs);
    print(
      formatTable(
        ['VERSION', 'IMAGE', 'CREATED'],
        defs.map((d) => [d.version, d.image, ago(d.created_at)]),
      ),
    );
  },
};

const rm: CommandModule<GlobalArgs, IdArgs> = {
  command: 'rm <id>',
  describe: 'Delete one version of an op, or all of them',
  builder: (y) =>
    idArg(y).option('version', { type: 'string', describe: 'only this version (default: all)' }) as Argv<IdArgs>,
  handler: async (argv) => {
    const answer = await clientFrom(argv).deleteDefinition(argv.id, argv.version);
    if (argv.json) return printJson(answer);
    if (answer.deleted === null) {
      // A retried delete found nothing left: the try whose answer was lost had deleted it.
      print(
        `deleted ${argv.id}${argv.version ? `@${argv.version}` : ''} (how many versions is unknown: the first answer was lost)`,
      );
    } else {
      print(`deleted ${answer.deleted} definition${answer.deleted === 1 ? '' : 's'} of ${argv.id}`);
    }
  },
};

export const opCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'op <command>',
  describe: 'Deploy and inspect op definitions',
  builder: (y) =>
    y
      .command(deploy)
      .command(ls)
      .command(get)
      .command(versions)
      .command(rm)
      .demandCommand(1, 'name an op command: deploy, ls, get, versions, rm'),
  handler: () => undefined,
};
