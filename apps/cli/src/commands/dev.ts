import { helpText } from '@gyoza/server/settings';
import type { Argv, CommandModule } from 'yargs';
import { UsageError } from '../cli-error';
import type { GlobalArgs } from '../context';
import { refuseClientFlags, SERVED_KEY_HELP } from './server';
import { startWorkerFromArgs, stopOnSignals, type WorkerStartArgs, workerOptions } from './worker';

interface DevArgs extends WorkerStartArgs {
  /** As typed: GYOZA_PORT's parser checks it (yargs would read `1e4` as 10000). */
  port?: string;
}

/** A server on the embedded store and a worker on the local Docker engine, in one process. */
export const devCommand: CommandModule<GlobalArgs, DevArgs> = {
  command: 'dev',
  describe: 'Start a server (embedded SQLite store) and a local worker together, for trying gyoza',
  builder: (y) =>
    workerOptions(y)
      .option('port', { type: 'string', describe: helpText('port') })
      .option('api-key', { type: 'string', describe: SERVED_KEY_HELP })
      .check(refuseClientFlags('gyoza dev', '--port')) as Argv<DevArgs>,
  handler: async (argv) => {
    const server = await import('@gyoza/server');
    let running: Awaited<ReturnType<typeof server.start>>;
    try {
      // --api-key is the server's key (GYOZA_API_KEY); its worker is given the same one.
      const port = argv.port as unknown as number | undefined;
      running = await server.start({ port, workers: 1, reload: false, apiKey: argv['api-key'] });
    } catch (error) {
      if (error instanceof server.ConfigError) throw new UsageError(error.message);
      throw error;
    }
    const worker = await startWorkerFromArgs({ ...argv, server: running.url, 'api-key': running.apiKey });
    process.stderr.write(`gyoza dev: server ${running.url}, worker ${worker.id}; Ctrl-C stops both\n`);
    stopOnSignals(async () => {
      await worker.stop((argv['grace-seconds'] ?? 30) * 1000);
      await running.close();
    });
  },
};
