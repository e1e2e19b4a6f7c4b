import type { EventJson, RunJson } from '@gyoza/client';
import { formatBytes } from './format';
import { pullStatus } from './pull';

// Shapes as the client types them: `GET /runs/{id}` and the event stream (docs/worker.md).
type PullFields = Pick<RunJson, 'state' | 'phase' | 'pull_progress'>;
const assigned: PullFields = { state: 'ASSIGNED' };
const pulling: PullFields = {
  state: 'ASSIGNED',
  phase: 'pulling',
  pull_progress: { image: 'registry.local/op:1', done_bytes: 1_572_864, total_bytes: 4_000_000, percent: 39.3 },
};
let index = 0;
const event = (type: EventJson['type'], payload?: Record<string, unknown>): EventJson => ({
  index: ++index,
  attempt: 1,
  type,
  created_at: '2026-03-01T10:00:00.000Z',
  ...(payload ? { payload } : {}),
});
const report = (percent: number, done = 0, total = 0) =>
  event('INFO', { phase: 'pulling', image: 'registry.local/op:1', done_bytes: done, total_bytes: total, percent });

describe('pullStatus', () => {
  it('shows what GET /runs/{id} says while the run is pulling', () => {
    expect(pullStatus(pulling)).toEqual({
      image: 'registry.local/op:1',
      percent: 39,
      headline: 'Pulling image registry.local/op:1… 39%',
      detail: '1.5 MB of 3.8 MB',
    });
  });

  it('says nothing of a run that is not pulling, or no longer ASSIGNED', () => {
    expect(pullStatus(assigned)).toBeUndefined();
    expect(pullStatus({ state: 'PENDING' })).toBeUndefined();
    expect(pullStatus({ ...pulling, state: 'RUNNING' })).toBeUndefined();
  });

  it('follows the live pull reports that came after the assignment', () => {
    const events = [event('CREATED'), event('ASSIGNED'), report(10, 100, 1000), event('LOG'), report(42.4, 424, 1000)];
    expect(pullStatus(assigned, events)).toMatchObject({
      percent: 42,
      headline: 'Pulling image registry.local/op:1… 42%',
    });
    // A newer live report wins over the polled run's.
    expect(pullStatus(pulling, events)?.percent).toBe(42);
  });

  it('leaves out the sizes while the engine does not know them', () => {
    expect(pullStatus(assigned, [event('ASSIGNED'), report(0)])).toEqual({
      image: 'registry.local/op:1',
      percent: 0,
      headline: 'Pulling image registry.local/op:1… 0%',
    });
  });

  it('ignores reports of an earlier assignment and stops once the run started', () => {
    const earlier = [event('ASSIGNED'), report(80), event('UNASSIGNED'), event('ASSIGNED')];
    expect(pullStatus(assigned, earlier)).toBeUndefined();
    // The polled run may still say ASSIGNED and pulling; the stream already saw STARTED.
    expect(pullStatus(pulling, [event('ASSIGNED'), report(99), event('STARTED')])).toBeUndefined();
  });

  it('ignores INFO lines that are not pull reports', () => {
    expect(pullStatus(assigned, [event('ASSIGNED'), event('INFO', { phase: 'other' })])).toBeUndefined();
  });
});

describe('formatBytes', () => {
  it('writes bytes in the largest binary unit below the number', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KB');
    expect(formatBytes(4_000_000)).toBe('3.8 MB');
    expect(formatBytes(150 * 1024 ** 3)).toBe('150 GB');
    expect(formatBytes(-1)).toBe('0 B');
  });
});
