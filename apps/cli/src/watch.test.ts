import type { EventJson } from '@gyoza/client';
import { formatEventLine, pullBar, pullProgressOf } from './watch';

const info = (payload: Record<string, unknown>, msg = 'pulling reg/x:1 43%'): EventJson => ({
  index: 4,
  attempt: 1,
  type: 'INFO',
  msg,
  payload,
  created_at: '2026-01-01T00:00:09.000Z',
});

describe('pull progress in run watch', () => {
  it('reads the worker pull events and draws their own bar', () => {
    const event = info({ phase: 'pulling', image: 'reg/x:1', done_bytes: 43, total_bytes: 100, percent: 43 });
    expect(pullProgressOf(event)).toEqual({ image: 'reg/x:1', percent: 43 });
    expect(pullBar('reg/x:1', 43, 10)).toBe('pulling reg/x:1 [####------]  43%');
    expect(formatEventLine(event)).toBe('00:00:09  INFO       pulling reg/x:1 43%');
  });

  it('leaves other INFO events alone', () => {
    expect(pullProgressOf(info({ note: 'x' }, 'hello'))).toBeUndefined();
    expect(pullProgressOf({ ...info({ phase: 'pulling', image: 'x' }), type: 'LOG' })).toBeUndefined();
  });
});
