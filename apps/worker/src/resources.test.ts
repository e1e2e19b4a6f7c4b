import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { detectGpus, detectResources, parseGpus, parseNvidiaSmi } from './resources';

describe('parseNvidiaSmi', () => {
  it('reads index, total memory and model of each GPU', () => {
    const out = '0, 40960, NVIDIA A100-SXM4-40GB\n1, 24576, NVIDIA GeForce RTX 4090\n';
    expect(parseNvidiaSmi(out)).toEqual([
      { id: 0, vram_mb: 40960, tags: ['nvidia-a100-sxm4-40gb'] },
      { id: 1, vram_mb: 24576, tags: ['nvidia-geforce-rtx-4090'] },
    ]);
  });

  it('skips blank and unreadable lines (e.g. "[N/A]" memory)', () => {
    expect(parseNvidiaSmi('\n0, [N/A], Some GPU\nNo devices were found\n2, 8192, T4\n')).toEqual([
      { id: 2, vram_mb: 8192, tags: ['t4'] },
    ]);
  });
});

describe('detectGpus', () => {
  // No GPU here: a script stands in for nvidia-smi, so the call and its arguments are real.
  function withNvidiaSmi(script: string, check: (path: string) => void) {
    const dir = mkdtempSync(join(tmpdir(), 'gyoza-smi-'));
    try {
      writeFileSync(join(dir, 'nvidia-smi'), `#!/bin/sh\n${script}\n`);
      chmodSync(join(dir, 'nvidia-smi'), 0o755);
      check(join(dir, 'nvidia-smi'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('asks nvidia-smi for index, memory.total and name as bare CSV', () => {
    withNvidiaSmi(
      '[ "$*" = "--query-gpu=index,memory.total,name --format=csv,noheader,nounits" ] || exit 9\necho "0, 16384, Tesla V100"',
      (smi) => expect(detectGpus(smi)).toEqual([{ id: 0, vram_mb: 16384, tags: ['tesla-v100'] }]),
    );
  });

  it('finds none when nvidia-smi fails or is missing', () => {
    withNvidiaSmi('echo "NVIDIA-SMI has failed" >&2; exit 9', (smi) => expect(detectGpus(smi)).toEqual([]));
    expect(detectGpus('/nonexistent/nvidia-smi')).toEqual([]);
  });
});

describe('detectResources', () => {
  it('offers the whole machine unless told otherwise', () => {
    const all = detectResources({ gpus: [] });
    expect(all.cpu_cores).toBe(cpus().length);
    expect(all.ram_mb).toBeGreaterThan(0);
    expect(detectResources({ cpu_cores: 1.5, ram_mb: 512, gpus: [] })).toEqual({
      cpu_cores: 1.5,
      ram_mb: 512,
      gpus: [],
    });
  });
});

describe('parseGpus (--gpus)', () => {
  it('reads id:vram_mb[:tag+tag] lists, and none', () => {
    expect(parseGpus('0:24576:a100+nvlink,1:8192')).toEqual([
      { id: 0, vram_mb: 24576, tags: ['a100', 'nvlink'] },
      { id: 1, vram_mb: 8192, tags: [] },
    ]);
    expect(parseGpus('none')).toEqual([]);
    expect(parseGpus('')).toEqual([]);
  });

  it.each(['0', 'x:1024', '0:-1', '-1:1024', '0:1.5', '0:1024,'])('refuses %j naming the flag', (spec) => {
    expect(() => parseGpus(spec)).toThrow(/^--gpus: '/);
  });
});
