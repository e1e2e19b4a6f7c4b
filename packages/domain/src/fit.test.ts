import fc from 'fast-check';
import {
  type Constraints,
  chooseGpus,
  type FreeCapacity,
  freeCapacity,
  isWithinCapacity,
  normalizeConstraints,
  placeOnEmptyWorker,
  placeRun,
  type Reservation,
  reservationOf,
  reserve,
  type Worker,
} from './index';

function worker(cpu: number, ram: number, gpus: [number, string[]?][] = [], tags: string[] = []): Worker {
  const t = new Date(0);
  return {
    id: 'w',
    resources: {
      cpu_cores: cpu,
      ram_mb: ram,
      gpus: gpus.map(([vram, gtags], id) => ({ id, vram_mb: vram, tags: gtags ?? [] })),
    },
    tags,
    running_ops: [],
    status: 'active',
    created_at: t,
    last_heartbeat_at: t,
  };
}
const c = (input: Partial<Constraints>) => normalizeConstraints(input);

describe('freeCapacity', () => {
  it('subtracts every reservation, per GPU for VRAM', () => {
    const free = freeCapacity(worker(8, 16000, [[8000], [24000]]), [
      reservationOf('a', c({ cpu_cores: 2, ram_mb: 1000, vram_mb: 3000 }), [1]),
      reservationOf('b', c({ cpu_cores: 0.5, ram_mb: 500, vram_mb: 3000 }), [1]),
    ]);
    expect(free.cpu_cores).toBe(5.5);
    expect(free.ram_mb).toBe(14500);
    expect(free.gpus.map((g) => g.free_vram_mb)).toEqual([8000, 18000]);
  });

  it('counts fractional CPU exactly', () => {
    const free = freeCapacity(worker(0.3, 100), [
      reservationOf('a', c({ cpu_cores: 0.1 }), []),
      reservationOf('b', c({ cpu_cores: 0.2 }), []),
    ]);
    expect(free.cpu_cores).toBe(0);
    expect(placeRun(c({ cpu_cores: 0.1 }), [], free, 'direct').fits).toBe(false);
    expect(
      placeRun(
        c({ cpu_cores: 0.1 }),
        [],
        freeCapacity(worker(0.3, 100), [reservationOf('a', c({ cpu_cores: 0.2 }), [])]),
        'direct',
      ),
    ).toEqual({ fits: true, gpu_ids: [] });
  });
});

describe('placeRun', () => {
  const free = freeCapacity(worker(8, 16000, [[8000, ['a100']], [24000], [12000, ['a100']]], ['gpu', 'eu']), []);

  it('needs every worker tag', () => {
    expect(placeRun(c({ worker_tags: ['gpu'] }), ['gpu', 'eu'], free, 'direct').fits).toBe(true);
    const miss = placeRun(c({ worker_tags: ['gpu', 'us'] }), ['gpu', 'eu'], free, 'direct');
    expect(miss).toEqual({ fits: false, reason: 'worker lacks tags us' });
  });

  it('refuses runs needing more CPU or RAM than free', () => {
    expect(placeRun(c({ cpu_cores: 9 }), [], free, 'direct').fits).toBe(false);
    expect(placeRun(c({ ram_mb: 16001 }), [], free, 'direct').fits).toBe(false);
    expect(placeRun(c({ cpu_cores: 8, ram_mb: 16000 }), [], free, 'direct').fits).toBe(true);
  });

  it('direct takes GPUs in worker order, best-fit the tightest', () => {
    expect(placeRun(c({ vram_mb: 6000 }), [], free, 'direct')).toEqual({ fits: true, gpu_ids: [0] });
    expect(placeRun(c({ vram_mb: 10000 }), [], free, 'direct')).toEqual({ fits: true, gpu_ids: [1] });
    expect(placeRun(c({ vram_mb: 10000 }), [], free, 'best-fit')).toEqual({ fits: true, gpu_ids: [2] });
  });

  it('honors GPU tags and several GPUs per run', () => {
    expect(placeRun(c({ vram_mb: 1000, gpu_tags: ['a100'], gpu_count: 2 }), [], free, 'direct')).toEqual({
      fits: true,
      gpu_ids: [0, 2],
    });
    expect(placeRun(c({ vram_mb: 9000, gpu_tags: ['a100'], gpu_count: 2 }), [], free, 'direct').fits).toBe(false);
    expect(placeRun(c({ vram_mb: 1000, gpu_count: 4 }), [], free, 'best-fit').fits).toBe(false);
  });

  it('lets two runs share one GPU while their VRAM fits', () => {
    const one = freeCapacity(worker(8, 16000, [[8000]]), []);
    const first = placeRun(c({ vram_mb: 4000 }), [], one, 'best-fit');
    expect(first).toEqual({ fits: true, gpu_ids: [0] });
    const after = reserve(one, reservationOf('a', c({ vram_mb: 4000 }), [0]));
    expect(placeRun(c({ vram_mb: 4000 }), [], after, 'best-fit')).toEqual({ fits: true, gpu_ids: [0] });
    const full = reserve(after, reservationOf('b', c({ vram_mb: 4000 }), [0]));
    expect(placeRun(c({ vram_mb: 1 }), [], full, 'best-fit').fits).toBe(false);
  });

  it('placeOnEmptyWorker tells whether the run could ever fit', () => {
    expect(placeOnEmptyWorker(c({ vram_mb: 30000 }), worker(8, 16000, [[24000]])).fits).toBe(false);
    expect(placeOnEmptyWorker(c({ vram_mb: 20000 }), worker(8, 16000, [[24000]])).fits).toBe(true);
  });
});

const arbWorker = fc
  .record({
    cpu: fc.integer({ min: 0, max: 64 }).map((n) => n / 2),
    ram: fc.integer({ min: 0, max: 64000 }),
    gpus: fc.array(fc.record({ vram: fc.integer({ min: 0, max: 48000 }), tagged: fc.boolean() }), { maxLength: 4 }),
  })
  .map(({ cpu, ram, gpus }) =>
    worker(
      cpu,
      ram,
      gpus.map((g) => [g.vram, g.tagged ? ['fast'] : []]),
    ),
  );

const arbConstraints = fc
  .record({
    cpu_cores: fc.integer({ min: 0, max: 16 }).map((n) => n / 4),
    ram_mb: fc.integer({ min: 0, max: 16000 }),
    vram_mb: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 24000 })),
    gpu_count: fc.integer({ min: 1, max: 3 }),
    tagged: fc.boolean(),
  })
  .map(({ vram_mb, gpu_count, tagged, ...rest }) =>
    c(vram_mb > 0 ? { ...rest, vram_mb, gpu_count, gpu_tags: tagged ? ['fast'] : [] } : rest),
  );

const arbStrategy = fc.constantFrom('direct' as const, 'best-fit' as const);

describe('properties', () => {
  it('no sequence of placements over-commits CPU, RAM or any GPU', () => {
    fc.assert(
      fc.property(arbWorker, fc.array(arbConstraints, { maxLength: 30 }), arbStrategy, (w, runs, strategy) => {
        let free = freeCapacity(w, []);
        const reservations: Reservation[] = [];
        runs.forEach((constraints, i) => {
          const placement = placeRun(constraints, w.tags, free, strategy);
          if (!placement.fits) return;
          const r = reservationOf(`r${i}`, constraints, placement.gpu_ids);
          reservations.push(r);
          free = reserve(free, r);
          expect(isWithinCapacity(free)).toBe(true);
        });
        const recomputed = freeCapacity(w, reservations);
        expect(isWithinCapacity(recomputed)).toBe(true);
        expect(recomputed).toEqual(free);
      }),
      { numRuns: 500 },
    );
  });

  const arbFree: fc.Arbitrary<FreeCapacity> = fc.record({
    cpu_cores: fc.integer({ min: 0, max: 32 }),
    ram_mb: fc.integer({ min: 0, max: 32000 }),
    gpus: fc
      .array(fc.record({ total: fc.integer({ min: 0, max: 48000 }), used: fc.nat(48000), tagged: fc.boolean() }), {
        maxLength: 6,
      })
      .map((gs) =>
        gs.map((g, id) => ({
          id,
          vram_mb: g.total,
          free_vram_mb: Math.max(0, g.total - g.used),
          tags: g.tagged ? ['fast'] : [],
        })),
      ),
  });

  it('best fit places a run whenever first fit would, and vice versa', () => {
    fc.assert(
      fc.property(arbConstraints, arbFree, (constraints, free) => {
        const direct = placeRun(constraints, [], free, 'direct');
        const best = placeRun(constraints, [], free, 'best-fit');
        expect(best.fits).toBe(direct.fits);
        if (best.fits) expect(best.gpu_ids).toHaveLength(constraints.gpu_count);
      }),
      { numRuns: 1000 },
    );
  });

  it('best fit leaves the largest free VRAM no smaller than first fit does', () => {
    fc.assert(
      fc.property(arbConstraints, arbFree, (constraints, free) => {
        const direct = chooseGpus(constraints, free.gpus, 'direct');
        const best = chooseGpus(constraints, free.gpus, 'best-fit');
        if (!direct || !best) return;
        const largestAfter = (ids: number[]) =>
          Math.max(
            0,
            ...free.gpus.map((g) => (ids.includes(g.id) ? g.free_vram_mb - constraints.vram_mb : g.free_vram_mb)),
          );
        expect(largestAfter(best)).toBeGreaterThanOrEqual(largestAfter(direct));
      }),
      { numRuns: 1000 },
    );
  });
});
