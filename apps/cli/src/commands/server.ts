import type { ConfigOverrides } from '@gyoza/server';
// Only the settings declaration: other commands do not pay for the server's dependencies.
import { FLAG_SETTINGS, flagName, helpText, SETTINGS } from '@gyoza/server/settings';
import type { Argv, CommandModule } from 'yargs';
import { UsageError } from '../cli-error';
import type { GlobalArgs } from '../context';

type StartArgs = GlobalArgs & ConfigOverrides;

/**
 * One flag per setting marked `flag` in the server's SETTINGS, with its help, type and
 * choices from there. Flags left unset stay undefined so the server applies environment,
 * then defaults, and checks every value with the same parser as at start-up.
 */
const start: CommandModule<GlobalArgs, StartArgs> = {
  command: 'start',
  describe: 'Start the gyoza server (flags > GYOZA_* environment > defaults)',
  builder: (y) => {
    let withFlags: Argv<GlobalArgs> = y;
    for (const name of FLAG_SETTINGS) {
      const setting = SETTINGS[name];
      withFlags = withFlags.option(flagName(name), {
        type: setting.type,
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
    try {
      const running = await server.start(overrides);
      server.closeOnSignals(running);
    } catch (error) {
      // A bad setting is the user's to fix: one line naming the variable, exit 2.
      if (error instanceof server.ConfigError) throw new UsageError(error.message);
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
