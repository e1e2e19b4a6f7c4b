import type { WorkerJson } from '@gyoza/client';
import type { CommandModule } from 'yargs';
import { clientFrom, type GlobalArgs, print, printJson } from '../context';
import { ago, formatTable, num } from '../table';

/** "0: 20000/24000 MB, 1: 24000/24000 MB": free/total VRAM of each GPU. */
export function gpuSummary(worker: WorkerJson): string {
  if (worker.resources.gpus.length === 0) return '-';
  return worker.resources.gpus
    .map((gpu) => {
      const free = worker.free?.gpus.find((g) => g.id === gpu.id)?.free_vram_mb ?? gpu.vram_mb;
      const tags = gpu.tags.length > 0 ? ` [${gpu.tags.join(',')}]` : '';
      return `${gpu.id}: ${free}/${gpu.vram_mb} MB${tags}`;
    })
    .join(', ');
}

const ls: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'ls',
  describe: 'List workers with free/total CPU, RAM and VRAM per GPU',
  handler: async (argv) => {
    const workers = await clientFrom(argv).listWorkers();
    if (argv.json) return printJson(workers);
    print(
      formatTable(
        ['ID', 'STATUS', 'CPU FREE/TOTAL', 'RAM MB FREE/TOTAL', 'GPU VRAM FREE/TOTAL', 'RUNS', 'HEARTBEAT'],
        workers.map((w) => [
          w.id,
          w.status,
          `${num(w.free?.cpu_cores ?? w.resources.cpu_cores)}/${num(w.resources.cpu_cores)}`,
          `${w.free?.ram_mb ?? w.resources.ram_mb}/${w.resources.ram_mb}`,
          gpuSummary(w),
          String(w.running_ops.length),
          ago(w.last_heartbeat_at),
        ]),
      ),
    );
  },
};

export const workersCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'workers <command>',
  describe: 'Inspect the worker pool',
  builder: (y) => y.command(ls).demandCommand(1, 'name a workers command: ls'),
  handler: () => undefined,
};
