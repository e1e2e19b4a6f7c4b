// Placeholder until the worker engineer's `gyoza dev` command lands (it replaces this file).
import type { CommandModule } from 'yargs';

export const devCommand: CommandModule = {
  command: 'dev',
  describe: 'Run a server and a worker together for development (not implemented yet)',
  handler: () => {
    process.stderr.write('gyoza dev: not implemented yet\n');
    process.exitCode = 2;
  },
};
