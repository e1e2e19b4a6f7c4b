#!/usr/bin/env node
import {
  GyozaAnswerError,
  GyozaApiError,
  GyozaConfigError,
  GyozaConnectionError,
  GyozaWaitTimeoutError,
} from '@gyoza/client';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { EXIT_FAILED, EXIT_USAGE, UsageError } from './cli-error';
import { deliveriesCommand } from './commands/deliveries';
import { devCommand } from './commands/dev';
import { opCommand } from './commands/op';
import { runCommand } from './commands/run';
import { serverCommand } from './commands/server';
import { workerCommand } from './commands/worker';
import { workersCommand } from './commands/workers';

/** Prints an error the way a user can act on it and picks the exit code. */
export function reportError(error: unknown): number {
  const write = (text: string) => process.stderr.write(`gyoza: ${text}\n`);
  // Pointed at something that is not a gyoza server (or at no server): the URL is named.
  if (error instanceof GyozaConnectionError || error instanceof GyozaConfigError || error instanceof GyozaAnswerError) {
    write(error.message);
    return EXIT_USAGE;
  }
  if (error instanceof GyozaApiError) {
    write(`${error.message} (${error.code}, HTTP ${error.status})`);
    for (const d of error.details) process.stderr.write(`  ${d.field}: ${d.message}\n`);
    if (error.status === 401) process.stderr.write('  give the key with --api-key or GYOZA_API_KEY\n');
    return EXIT_FAILED;
  }
  if (error instanceof UsageError) {
    // Op file problems are already "file:line:col: field: message" lines.
    for (const line of error.message.split('\n')) write(line);
    return EXIT_USAGE;
  }
  if (error instanceof GyozaWaitTimeoutError) {
    write(error.message);
    return EXIT_FAILED;
  }
  if (error instanceof Error && error.name === 'YError') {
    write(error.message);
    process.stderr.write('  see gyoza --help\n');
    return EXIT_USAGE;
  }
  write(error instanceof Error ? (error.stack ?? error.message) : String(error));
  return EXIT_FAILED;
}

export async function main(args: string[] = hideBin(process.argv)): Promise<number> {
  try {
    await yargs(args)
      .scriptName('gyoza')
      .usage('$0 <command> [options]')
      // An array flag takes one value per use (`--input a=1 --input b=2`), so a positional
      // after it stays positional; `--input.name=x` is an unknown flag, not an object.
      .parserConfiguration({ 'greedy-arrays': false, 'dot-notation': false })
      .option('server', {
        type: 'string',
        global: true,
        describe: 'server URL (GYOZA_SERVER_URL, http://127.0.0.1:5555)',
      })
      .option('api-key', {
        type: 'string',
        global: true,
        describe: 'API key (GYOZA_API_KEY, or the key file of a local server)',
      })
      .option('json', { type: 'boolean', global: true, describe: 'machine-readable JSON output' })
      // yargs reads `--priority abc` as NaN, which would be sent as null and defaulted: refused.
      .check((argv) => {
        for (const [name, value] of Object.entries(argv)) {
          if (typeof value === 'number' && !Number.isFinite(value) && !/[A-Z]/.test(name)) {
            throw new UsageError(`--${name} must be a number`);
          }
        }
        return true;
      }, true)
      .command(serverCommand)
      .command(workerCommand)
      .command(devCommand)
      .command(opCommand)
      .command(runCommand)
      .command(workersCommand)
      .command(deliveriesCommand)
      .demandCommand(1, 'name a command')
      .strict()
      .recommendCommands()
      .help()
      .alias('help', 'h')
      // `--version` names an op version here, so yargs' own version flag is off.
      .version(false)
      .fail((message, error) => {
        throw error ?? new UsageError(message);
      })
      .parseAsync();
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    return reportError(error);
  }
}

if (require.main === module) {
  void main().then((code) => {
    process.exitCode = code;
  });
}
