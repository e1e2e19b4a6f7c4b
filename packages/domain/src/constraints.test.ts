import { issues } from '../test/issues';
import { mergeConstraints, NO_CONSTRAINTS, normalizeConstraints } from './index';

describe('normalizeConstraints', () => {
  it('defaults everything to zero or empty', () => {
    const none = {
      cpu_cores: 0,
      ram_mb: 0,
      vram_mb: 0,
      gpu_count: 0,
      gpu_tags: [],
      worker_tags: [],
      timeout_seconds: 0,
    };
    expect(normalizeConstraints(undefined)).toEqual(none);
    expect(normalizeConstraints(null)).toEqual(none);
    expect(normalizeConstraints({})).toEqual(none);
    expect(NO_CONSTRAINTS).toEqual(none);
  });

  // [input, gpu_count]
  it.each([
    [{ vram_mb: 4000 }, 1],
    [{ vram_mb: 4000, gpu_count: 2 }, 2],
    [{ vram_mb: 4000, gpu_count: null }, 1],
    [{ gpu_count: 2 }, 2],
    [{ vram_mb: 0 }, 0],
    [{}, 0],
  ])('%j asks for %i GPU(s)', (input, count) => {
    expect(normalizeConstraints(input as never).gpu_count).toBe(count);
  });

  it('keeps shm_size_mb only when it is set, as a non-negative integer', () => {
    expect(normalizeConstraints({ shm_size_mb: 2048 }).shm_size_mb).toBe(2048);
    expect(normalizeConstraints({ shm_size_mb: 0 })).not.toHaveProperty('shm_size_mb');
    expect(mergeConstraints(normalizeConstraints({ shm_size_mb: 512 }), { cpu_cores: 1 }).shm_size_mb).toBe(512);
    expect(() => normalizeConstraints({ shm_size_mb: 1.5 })).toThrow('invalid constraints');
  });

  it('keeps fractional CPU and removes duplicate tags', () => {
    expect(normalizeConstraints({ cpu_cores: 0.25, gpu_tags: ['a', 'a', 'b'], worker_tags: ['x', 'x'] })).toMatchObject(
      { cpu_cores: 0.25, gpu_tags: ['a', 'b'], worker_tags: ['x'] },
    );
  });

  it('names every bad field', () => {
    expect(
      issues(() =>
        normalizeConstraints({
          cpu_cores: -1,
          ram_mb: 1.5,
          vram_mb: 10,
          gpu_count: 0,
          gpu_tags: [''],
          worker_tags: 'gpu' as never,
          timeout_seconds: Number.NaN,
        }),
      )?.map((i) => i.field),
    ).toEqual([
      'constraints.gpu_count',
      'constraints.cpu_cores',
      'constraints.ram_mb',
      'constraints.gpu_tags',
      'constraints.worker_tags',
      'constraints.timeout_seconds',
    ]);
    expect(issues(() => normalizeConstraints({ vram_mb: 1.5 }, 'overrides'))).toEqual([
      { field: 'overrides.vram_mb', message: 'must be a non-negative integer' },
    ]);
  });

  it.each([['gpu'], [[1]], [3]])('refuses %p that is not an object', (value) => {
    expect(issues(() => normalizeConstraints(value as never))).toEqual([
      { field: 'constraints', message: 'must be an object' },
    ]);
  });
});

describe('mergeConstraints', () => {
  const base = normalizeConstraints({ cpu_cores: 2, ram_mb: 1000, vram_mb: 8000, gpu_tags: ['a100'] });

  it('overrides only the given fields', () => {
    expect(mergeConstraints(base, { ram_mb: 512, cpu_cores: null as never })).toEqual({
      ...base,
      ram_mb: 512,
    });
    expect(mergeConstraints(base, undefined)).toEqual(base);
    expect(mergeConstraints(base, null)).toEqual(base);
  });

  it('derives gpu_count when the override first asks for VRAM, keeps it otherwise', () => {
    const cpuOnly = normalizeConstraints({ cpu_cores: 1 });
    expect(mergeConstraints(cpuOnly, { vram_mb: 2000 }).gpu_count).toBe(1);
    expect(mergeConstraints(cpuOnly, { vram_mb: 2000, gpu_count: 3 }).gpu_count).toBe(3);
    const twoGpus = normalizeConstraints({ vram_mb: 1000, gpu_count: 2 });
    expect(mergeConstraints(twoGpus, { vram_mb: 2000 }).gpu_count).toBe(2);
  });

  it('validates the merged result by field', () => {
    expect(issues(() => mergeConstraints(base, { gpu_count: 0 }))?.map((i) => i.field)).toEqual([
      'constraints.gpu_count',
    ]);
    expect(issues(() => mergeConstraints(base, { cpu_cores: 'x' } as never))?.map((i) => i.field)).toEqual([
      'constraints.cpu_cores',
    ]);
    expect(issues(() => mergeConstraints(base, 'big' as never))).toEqual([
      { field: 'constraints', message: 'must be an object' },
    ]);
  });
});
