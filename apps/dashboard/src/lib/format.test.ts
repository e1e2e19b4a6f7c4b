import { formatAgo, formatDuration, formatMb, gpuLabel, isoFromLocalInput, percentUsed } from './format';

describe('formatting', () => {
  it('writes sizes in MB below a GB and in GB above', () => {
    expect(formatMb(512)).toBe('512 MB');
    expect(formatMb(1536)).toBe('1.5 GB');
    expect(formatMb(24_576)).toBe('24 GB');
    expect(formatMb(8192)).toBe('8 GB');
    expect(formatMb(8000)).toBe('7.8 GB');
  });

  it('writes durations with their two largest units', () => {
    expect(formatDuration(42_000)).toBe('42s');
    expect(formatDuration(185_000)).toBe('3m 05s');
    expect(formatDuration(3_720_000)).toBe('1h 02m');
    expect(formatDuration(3 * 86_400_000 + 3_600_000)).toBe('3d 1h');
    expect(formatDuration(-5)).toBe('0s');
  });

  it('says how long ago, or in how long', () => {
    const now = new Date('2026-03-01T10:00:00Z');
    expect(formatAgo('2026-03-01T09:59:48Z', now)).toBe('12s ago');
    expect(formatAgo('2026-03-01T10:00:30Z', now)).toBe('in 30s');
    expect(formatAgo(undefined, now)).toBe('—');
  });

  it('bounds bar percentages to 0..100 and copes with a zero total', () => {
    expect(percentUsed(8192, 24_576)).toBe(33);
    expect(percentUsed(5, 0)).toBe(0);
    expect(percentUsed(-1, 10)).toBe(0);
    expect(percentUsed(20, 10)).toBe(100);
  });

  it('reads a datetime-local value as an ISO time', () => {
    expect(isoFromLocalInput('')).toBeUndefined();
    expect(isoFromLocalInput('nonsense')).toBeUndefined();
    expect(isoFromLocalInput('2026-03-01T10:02')).toBe(new Date('2026-03-01T10:02').toISOString());
  });

  it('labels a GPU by its index and, when it has them, its tags', () => {
    expect(gpuLabel({ id: 0, tags: ['a100'] })).toBe('GPU 0 · a100 VRAM');
    expect(gpuLabel({ id: 3, tags: ['a100', 'nvlink'] })).toBe('GPU 3 · a100 nvlink VRAM');
    expect(gpuLabel({ id: 1, tags: [] })).toBe('GPU 1 VRAM');
    expect(gpuLabel({ id: 2 })).toBe('GPU 2 VRAM');
  });
});
