import type { Argv, CommandModule } from 'yargs';
import { UsageError } from '../cli-error';
import type { GlobalArgs } from '../context';

interface StartArgs extends GlobalArgs {
  host?: string;
  port?: number;
  workers?: number;
  reload?: boolean;
  'log-level'?: string;
}

// Flags left unset stay undefined so the server applies environment, then defaults.
const start: CommandModule<GlobalArgs, StartArgs> = {
  command: 'start',
  describe: 'Start the gyoza server (flags > GYOZA_* environment > defaults)',
  builder: (y) =>
    y
      .option('host', { type: 'string', describe: 'bind address (GYOZA_HOST, 127.0.0.1)' })
      .option('port', { type: 'number', describe: 'port (GYOZA_PORT, 5555)' })
      .option('workers', { type: 'number', describe: 'server processes sharing the port (GYOZA_WORKERS, 1)' })
      .option('reload', { type: 'boolean', describe: 'restart on code changes, development only (GYOZA_RELOAD)' })
      .option('log-level', {
        type: 'string',
        choices: ['trace', 'debug', 'info', 'warn', 'warning', 'error', 'fatal', 'silent'],
        describe: 'log level (GYOZA_LOG_LEVEL, info)',
      }) as Argv<StartArgs>,
  handler: async (argv) => {
    // Loaded here so other commands do not pay for the server's dependencies.
    const server = await import('@gyoza/server');
    const level = argv['log-level'] === 'warning' ? 'warn' : argv['log-level'];
    try {
      const running = await server.start({
        host: argv.host,
        port: argv.port,
        workers: argv.workers,
        reload: argv.reload,
        logLevel: level,
      });
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
