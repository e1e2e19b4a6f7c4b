import type { DeliveryJson } from '@gyoza/client';
import type { Argv, CommandModule } from 'yargs';
import { clientFrom, type GlobalArgs, print, printJson } from '../context';
import { formatTable } from '../table';

/** The table `gyoza run deliveries` and `gyoza deliveries ls` print. */
export function printDeliveries(list: DeliveryJson[], json: boolean | undefined): void {
  if (json) {
    printJson(list);
    return;
  }
  print(
    formatTable(
      ['ID', 'EVENT', 'STATUS', 'ATTEMPTS', 'LAST CODE', 'NEXT ATTEMPT', 'LAST ERROR'],
      list.map((d) => [
        d.id,
        d.event_type,
        d.status,
        String(d.attempts),
        d.last_status_code === undefined ? '-' : String(d.last_status_code),
        d.status === 'pending' || d.status === 'failing' ? d.next_attempt_at : '-',
        (d.last_error ?? '').slice(0, 80),
      ]),
    ),
  );
}

interface LsArgs extends GlobalArgs {
  dead?: boolean;
  failing?: boolean;
  limit?: number;
}

const ls: CommandModule<GlobalArgs, LsArgs> = {
  command: 'ls',
  describe: 'List webhook deliveries that are failing or dead (both unless one is asked for)',
  builder: (y) =>
    y
      .option('dead', { type: 'boolean', describe: 'only dead deliveries (retries exhausted or 410 Gone)' })
      .option('failing', { type: 'boolean', describe: 'only deliveries being retried' })
      .option('limit', { type: 'number', describe: 'at most this many (default 100)' }) as Argv<LsArgs>,
  handler: async (argv) => {
    const status: DeliveryJson['status'][] = [];
    if (argv.failing) status.push('failing');
    if (argv.dead) status.push('dead');
    const list = await clientFrom(argv).listDeliveries({
      status: status.length ? status : ['failing', 'dead'],
      limit: argv.limit,
    });
    printDeliveries(list, argv.json);
  },
};

interface IdArgs extends GlobalArgs {
  id: string;
}

const redeliver: CommandModule<GlobalArgs, IdArgs> = {
  command: 'redeliver <id>',
  describe: 'Send a delivery again from its first attempt (same webhook-id)',
  builder: (y) => y.positional('id', { type: 'string', demandOption: true, describe: 'delivery id' }) as Argv<IdArgs>,
  handler: async (argv) => {
    const delivery = await clientFrom(argv).redeliver(argv.id);
    if (argv.json) return printJson(delivery);
    print(`${delivery.id} queued`);
  },
};

/** `gyoza run deliveries <id>`. */
export const runDeliveries: CommandModule<GlobalArgs, IdArgs> = {
  command: 'deliveries <id>',
  describe: "List a run's webhook deliveries",
  builder: (y) => y.positional('id', { type: 'string', demandOption: true, describe: 'run id' }) as Argv<IdArgs>,
  handler: async (argv) => printDeliveries(await clientFrom(argv).listRunDeliveries(argv.id), argv.json),
};

export const deliveriesCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'deliveries <command>',
  describe: 'Inspect and resend webhook deliveries',
  builder: (y) => y.command(ls).command(redeliver).demandCommand(1, 'name a deliveries command: ls, redeliver'),
  handler: () => undefined,
};
