import { GyozaClient } from '@gyoza/client';

/** Flags every command accepts. */
export interface GlobalArgs {
  server?: string;
  'api-key'?: string;
  json?: boolean;
}

export function clientFrom(argv: GlobalArgs): GyozaClient {
  return new GyozaClient({ baseUrl: argv.server, apiKey: argv['api-key'] });
}

export function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function note(text: string): void {
  process.stderr.write(`${text}\n`);
}
