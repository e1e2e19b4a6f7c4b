// Placeholder until the worker engineer's `gyoza worker` command lands (it replaces this file).
import type { CommandModule } from 'yargs';

export const workerCommand: CommandModule = {
  command: 'worker [command]',
  describe: 'Run a worker agent (not implemented yet)',
  handler: () => {
    process.stderr.write('gyoza worker: not implemented yet\n');
    process.exitCode = 2;
  },
};
