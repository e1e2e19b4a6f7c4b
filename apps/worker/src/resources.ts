import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';

export interface DetectedGpu {
  id: number;
  vram_mb: number;
  tags: string[];
}

export interface WorkerResourcesInput {
  cpu_cores: number;
  ram_mb: number;
  gpus: DetectedGpu[];
}

/** GPUs as nvidia-smi reports them; none when it is missing or fails. */
export function detectGpus(nvidiaSmi = 'nvidia-smi'): DetectedGpu[] {
  try {
    return parseNvidiaSmi(
      execFileSync(nvidiaSmi, ['--query-gpu=index,memory.total,name', '--format=csv,noheader,nounits'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        timeout: 5000,
      }),
    );
  } catch {
    return [];
  }
}

/**
 * `nvidia-smi --query-gpu=index,memory.total,name --format=csv,noheader,nounits` -> GPUs,
 * each tagged with its model name in kebab case ("NVIDIA A100-SXM4-40GB" -> nvidia-a100-sxm4-40gb).
 */
export function parseNvidiaSmi(out: string): DetectedGpu[] {
  return out
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => {
      const [index, memory, ...name] = line.split(',').map((s) => s.trim());
      const model = name.join(',').toLowerCase().replace(/\s+/g, '-');
      return { id: Number(index), vram_mb: Number(memory), tags: model ? [model] : [] };
    })
    .filter((g) => Number.isInteger(g.id) && g.id >= 0 && Number.isFinite(g.vram_mb) && g.vram_mb > 0);
}

/** This machine's CPU, RAM and GPUs; each can be overridden (flags). */
export function detectResources(overrides: Partial<WorkerResourcesInput> = {}): WorkerResourcesInput {
  return {
    cpu_cores: overrides.cpu_cores ?? cpus().length,
    ram_mb: overrides.ram_mb ?? Math.floor(totalmem() / (1024 * 1024)),
    gpus: overrides.gpus ?? detectGpus(),
  };
}

/** `--gpus 0:24576:a100,1:8192` -> GPUs (id:vram_mb[:tag+tag]). */
export function parseGpus(spec: string): DetectedGpu[] {
  if (spec.trim() === '' || spec === 'none') return [];
  return spec.split(',').map((part) => {
    const [id, vram, tags] = part.split(':');
    const gpu = { id: Number(id), vram_mb: Number(vram), tags: tags ? tags.split('+').filter(Boolean) : [] };
    if (!Number.isInteger(gpu.id) || gpu.id < 0 || !Number.isInteger(gpu.vram_mb) || gpu.vram_mb < 0) {
      throw new Error(`--gpus: '${part}' is not id:vram_mb[:tag+tag]`);
    }
    return gpu;
  });
}
