import type { ConfigOverrides } from '@gyoza/server';
// Only the settings declaration: other commands do not pay for the server's dependencies.
import { FLAG_SETTINGS, flagName, helpText, SETTINGS } from '@gyoza/server/settings';
import type { Argv, CommandModule } from 'yargs';
import { UsageError } from '../cli-error';
import type { GlobalArgs } from '../context';

type StartArgs = GlobalArgs & ConfigOverrides;

/** What the global `--api-key` means to a command that serves: the key clients must send. */
export const SERVED_KEY_HELP =
  'the key clients must send (GYOZA_API_KEY; default: generated, kept in the data directory)';

/**
 * Refuses the global flags that only a client reads (`--server`, `--json`): a command that
 * starts the server would otherwise ignore them without a word.
 */
export function refuseClientFlags(command: string, listen: string) {
  return (argv: GlobalArgs): true => {
    if (argv.server !== undefined)
      throw new UsageError(`${command} serves on ${listen}; --server is for commands that call a server`);
    if (argv.json !== undefined) throw new UsageError(`${command} prints logs, not JSON; drop --json`);
    return true;
  };
}

/**
 * One flag per setting marked `flag` in the server's SETTINGS, with its help, type and
 * choices from there. Flags left unset stay undefined so the server applies environment,
 * then defaults, and checks every value with the same parser as at start-up.
 */
const start: CommandModule<GlobalArgs, StartArgs> = {
  command: 'start',
  describe: 'Start the gyoza server (flags > GYOZA_* environment > defaults)',
  builder: (y) => {
    let withFlags: Argv<GlobalArgs> = y
      .option('api-key', { type: 'string', describe: SERVED_KEY_HELP })
      .check(refuseClientFlags('gyoza server start', '--host and --port'));
    for (const name of FLAG_SETTINGS) {
      const setting = SETTINGS[name];
      withFlags = withFlags.option(flagName(name), {
        // A number is passed on as typed, for the setting's parser to check as it checks the
        // variable: yargs would read `--port 1e4` as 10000 and `--port 0x50` as 80.
        type: setting.type === 'number' ? 'string' : setting.type,
        describe: helpText(name),
        ...('choices' in setting ? { choices: setting.choices } : {}),
      });
    }
    return withFlags as Argv<StartArgs>;
  },
  handler: async (argv) => {
    // Loaded here so other commands do not pay for the server's dependencies.
    const server = await import('@gyoza/server');
    // yargs also gives each kebab-case flag under its camelCase name, the setting's name.
    const overrides: ConfigOverrides = Object.fromEntries(FLAG_SETTINGS.map((name) => [name, argv[name]]));
    // The global --api-key is the server's own key here, as GYOZA_API_KEY would be (and wins over it).
    overrides.apiKey = argv['api-key'];
    try {
      // Closes on SIGTERM / SIGINT, which abandon start-up when they come while starting.
      await server.startUntilSignal(overrides);
    } catch (error) {
      // A bad setting, or a start-up that failed (a cluster's process could not listen), is
      // the user's to fix: one line naming the variable or the reason, exit 2.
      if (error instanceof server.ConfigError || error instanceof server.StartupError) {
        throw new UsageError(error.message);
      }
      throw error;
    }
  },
};

export const serverCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'server <command>',
  describe: 'Run the gyoza server',
  builder: (y) => y.command(start).demandCommand(1, 'name a server command: start'),
  handler: () => undefined,
};
