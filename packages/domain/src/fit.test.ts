import fc from 'fast-check';
import {
  type Constraints,
  chooseGpus,
  type FreeCapacity,
  freeCapacity,
  hasAllTags,
  isWithinCapacity,
  normalizeConstraints,
  overCommitsNothingItTakes,
  placeOnEmptyWorker,
  placeRun,
  planPlacements,
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

  it('direct follows the worker order of GPUs, not their ids', () => {
    const shuffled: FreeCapacity = { ...free, gpus: [free.gpus[2], free.gpus[1], free.gpus[0]] };
    expect(placeRun(c({ vram_mb: 6000 }), [], shuffled, 'direct')).toEqual({ fits: true, gpu_ids: [2] });
    expect(placeRun(c({ vram_mb: 6000 }), [], shuffled, 'best-fit')).toEqual({ fits: true, gpu_ids: [0] });
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

describe('planPlacements and isWithinCapacity', () => {
  const w = worker(4, 8000, [[16000]]);
  const runs = [
    { id: 'huge', constraints: c({ cpu_cores: 8 }) },
    { id: 'a', constraints: c({ cpu_cores: 2, vram_mb: 10000 }) },
    { id: 'b', constraints: c({ cpu_cores: 1, vram_mb: 10000 }) },
    { id: 'c', constraints: c({ cpu_cores: 1, vram_mb: 6000 }) },
    { id: 'd', constraints: c({ cpu_cores: 1 }) },
  ];

  it('skips runs that do not fit instead of blocking on them, reserving as it goes', () => {
    expect(planPlacements(w, [], runs, 10, 'best-fit')).toEqual([
      { run_id: 'a', gpu_ids: [0] },
      { run_id: 'c', gpu_ids: [0] },
      { run_id: 'd', gpu_ids: [] },
    ]);
  });

  it('stops at the limit and counts existing reservations', () => {
    expect(planPlacements(w, [], runs, 1, 'direct')).toEqual([{ run_id: 'a', gpu_ids: [0] }]);
    const held = [reservationOf('old', c({ cpu_cores: 3.5 }), [])];
    expect(planPlacements(w, held, runs, 10, 'direct')).toEqual([]);
  });

  it('isWithinCapacity is false as soon as one resource is negative', () => {
    const ok: FreeCapacity = { cpu_cores: 0, ram_mb: 0, gpus: [{ id: 0, vram_mb: 1, free_vram_mb: 0, tags: [] }] };
    expect(isWithinCapacity(ok)).toBe(true);
    expect(isWithinCapacity({ ...ok, cpu_cores: -0.1 })).toBe(false);
    expect(isWithinCapacity({ ...ok, ram_mb: -1 })).toBe(false);
    expect(isWithinCapacity({ ...ok, gpus: [{ ...ok.gpus[0], free_vram_mb: -1 }] })).toBe(false);
  });

  it('overCommitsNothingItTakes looks only at what the reservation takes', () => {
    const free: FreeCapacity = {
      cpu_cores: 1,
      ram_mb: 100,
      gpus: [
        { id: 0, vram_mb: 6000, free_vram_mb: -2000, tags: [] },
        { id: 1, vram_mb: 8000, free_vram_mb: 8000, tags: [] },
      ],
    };
    const taking = (cpu_cores: number, ram_mb: number, vram_mb: number, gpu_ids: number[]) => ({
      run_id: 'r',
      cpu_cores,
      ram_mb,
      vram_mb,
      gpu_ids,
    });
    expect(overCommitsNothingItTakes(free, taking(1, 0, 0, []))).toBe(true);
    expect(overCommitsNothingItTakes(free, taking(0, 0, 100, [1]))).toBe(true);
    expect(overCommitsNothingItTakes(free, taking(0, 0, 100, [0]))).toBe(false);
    expect(overCommitsNothingItTakes({ ...free, cpu_cores: -0.5 }, taking(0.5, 0, 0, []))).toBe(false);
    expect(overCommitsNothingItTakes({ ...free, ram_mb: -1 }, taking(0, 1, 0, []))).toBe(false);
    expect(overCommitsNothingItTakes({ ...free, ram_mb: -1 }, taking(1, 0, 0, []))).toBe(true);
  });

  it('explains why a run does not fit', () => {
    const free = freeCapacity(w, []);
    expect(placeRun(c({ cpu_cores: 4.5 }), [], free, 'direct')).toEqual({
      fits: false,
      reason: 'needs 4.5 CPU cores, 4 free',
    });
    expect(placeRun(c({ ram_mb: 9000 }), [], free, 'direct')).toEqual({
      fits: false,
      reason: 'needs 9000 MB RAM, 8000 free',
    });
    expect(placeRun(c({ vram_mb: 1, gpu_count: 2, gpu_tags: ['h100'] }), [], free, 'direct')).toEqual({
      fits: false,
      reason: 'needs 2 GPU(s) tagged h100 with 1 MB VRAM free',
    });
  });
});

const TAGS = ['gpu', 'eu', 'fast'];
const arbTags = fc.subarray(TAGS);

// CPU in tenths of a core, so sums like 0.1 + 0.2 are exercised, not just binary fractions.
const arbWorker = fc
  .record({
    cpu: fc.integer({ min: 0, max: 320 }).map((n) => n / 10),
    ram: fc.integer({ min: 0, max: 64000 }),
    gpus: fc.array(fc.record({ vram: fc.integer({ min: 0, max: 48000 }), tags: arbTags }), { maxLength: 4 }),
    tags: arbTags,
  })
  .map(({ cpu, ram, gpus, tags }) =>
    worker(
      cpu,
      ram,
      gpus.map((g) => [g.vram, g.tags]),
      tags,
    ),
  );

const arbConstraints = fc
  .record({
    cpu_cores: fc.integer({ min: 0, max: 80 }).map((n) => n / 10),
    ram_mb: fc.integer({ min: 0, max: 16000 }),
    vram_mb: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 24000 })),
    gpu_count: fc.integer({ min: 1, max: 3 }),
    gpu_tags: fc.subarray(['fast']),
    worker_tags: fc.oneof(fc.constant<string[]>([]), arbTags),
  })
  .map(({ vram_mb, gpu_count, gpu_tags, ...rest }) =>
    c(vram_mb > 0 ? { ...rest, vram_mb, gpu_count, gpu_tags } : rest),
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
          expect(hasAllTags(w.tags, constraints.worker_tags)).toBe(true);
          expect(new Set(placement.gpu_ids).size).toBe(constraints.gpu_count);
          for (const id of placement.gpu_ids) {
            expect(hasAllTags(w.resources.gpus[id].tags, constraints.gpu_tags)).toBe(true);
          }
          const r = reservationOf(`r${i}`, constraints, placement.gpu_ids);
          reservations.push(r);
          free = reserve(free, r);
          expect(isWithinCapacity(free)).toBe(true);
        });
        const recomputed = freeCapacity(w, reservations);
        expect(isWithinCapacity(recomputed)).toBe(true);
        expect(recomputed).toEqual(free);
        // And directly from the reservations, in milli-cores to compare CPU exactly.
        const sum = (f: (r: Reservation) => number) => reservations.reduce((n, r) => n + f(r), 0);
        expect(sum((r) => Math.round(r.cpu_cores * 1000))).toBeLessThanOrEqual(
          Math.round(w.resources.cpu_cores * 1000),
        );
        expect(sum((r) => r.ram_mb)).toBeLessThanOrEqual(w.resources.ram_mb);
        for (const gpu of w.resources.gpus) {
          expect(sum((r) => (r.gpu_ids.includes(gpu.id) ? r.vram_mb : 0))).toBeLessThanOrEqual(gpu.vram_mb);
        }
      }),
      { numRuns: 500 },
    );
  });

  const arbFree: fc.Arbitrary<FreeCapacity> = fc.record({
    cpu_cores: fc.integer({ min: 0, max: 320 }).map((n) => n / 10),
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
      )
      // Worker order is not id order, so 'direct' is not just 'lowest id'.
      .chain((gs) => fc.shuffledSubarray(gs, { minLength: gs.length, maxLength: gs.length })),
  });

  it('best fit places a run whenever first fit would, and vice versa', () => {
    fc.assert(
      fc.property(arbConstraints, arbFree, (constraints, free) => {
        const workerTags = constraints.worker_tags;
        const direct = placeRun(constraints, workerTags, free, 'direct');
        const best = placeRun(constraints, workerTags, free, 'best-fit');
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
