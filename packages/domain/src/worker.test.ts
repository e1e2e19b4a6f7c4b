import { applyHeartbeat, type Heartbeat, isSilent, WORKER_ID_PATTERN } from './index';

const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
const hb: Heartbeat = {
  worker_id: 'gpu-box-1',
  resources: { cpu_cores: 8, ram_mb: 32000, gpus: [{ id: 0, vram_mb: 24000, tags: ['a100'] }] },
  tags: ['gpu', 'gpu', 'eu'],
  running_ops: ['run_a'],
};

describe('applyHeartbeat', () => {
  it('registers a new worker as active', () => {
    expect(applyHeartbeat(null, hb, t(1))).toEqual({
      id: 'gpu-box-1',
      resources: hb.resources,
      tags: ['gpu', 'eu'],
      running_ops: ['run_a'],
      status: 'active',
      created_at: t(1),
      last_heartbeat_at: t(1),
    });
  });

  it('keeps created_at and brings an evicted worker back into the pool', () => {
    const first = applyHeartbeat(undefined, hb, t(1));
    const evicted = { ...first, status: 'evicted' as const, evicted_at: t(80) };
    const back = applyHeartbeat(evicted, { ...hb, running_ops: [] }, t(90));
    expect(back).toMatchObject({ status: 'active', created_at: t(1), last_heartbeat_at: t(90), running_ops: [] });
    expect(back).not.toHaveProperty('evicted_at');
  });
});

describe('isSilent', () => {
  it('is true only once the timeout has fully passed', () => {
    const w = applyHeartbeat(null, hb, t(0));
    expect(isSilent(w, t(60), 60)).toBe(false);
    expect(isSilent(w, new Date(t(60).getTime() + 1), 60)).toBe(true);
  });
});

describe('WORKER_ID_PATTERN', () => {
  it.each(['w1', 'gpu-box.local', 'host:1@dc_2'])('accepts %s', (id) => {
    expect(WORKER_ID_PATTERN.test(id)).toBe(true);
  });
  it.each(['', '-w', 'a b', 'a/b', 'x'.repeat(129)])('refuses %p', (id) => {
    expect(WORKER_ID_PATTERN.test(id)).toBe(false);
  });
});
