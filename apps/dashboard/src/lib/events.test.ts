import type { EventJson } from '@gyoza/client';
import { logLines, searchLines, timelineByAttempt } from './events';

const at = '2026-03-01T10:00:00.000Z';
const events: EventJson[] = [
  { index: 1, attempt: 1, type: 'CREATED', created_at: at },
  { index: 2, attempt: 1, type: 'ASSIGNED', payload: { worker_id: 'w1' }, created_at: at },
  { index: 3, attempt: 1, type: 'LOG', msg: 'one\ntwo', created_at: at },
  { index: 4, attempt: 1, type: 'PROGRESS', msg: '50', created_at: at },
  { index: 5, attempt: 1, type: 'FAILED', payload: { error_message: 'exit 1' }, created_at: at },
  { index: 6, attempt: 2, type: 'RETRIED', created_at: at },
  { index: 7, attempt: 2, type: 'INFO', msg: 'pulling image', created_at: at },
];

describe('run events', () => {
  it('splits batched LOG events into lines and keeps INFO lines apart', () => {
    expect(logLines(events).map((l) => [l.key, l.attempt, l.text, l.info])).toEqual([
      ['3.0', 1, 'one', false],
      ['3.1', 1, 'two', false],
      ['7.0', 2, 'pulling image', true],
    ]);
  });

  it('searches lines case-insensitively; an empty search shows all', () => {
    const lines = logLines(events);
    expect(searchLines(lines, 'TWO').map((l) => l.text)).toEqual(['two']);
    expect(searchLines(lines, '  ')).toHaveLength(3);
  });

  it('groups lifecycle events by attempt, without logs and progress', () => {
    expect(timelineByAttempt(events).map((a) => [a.attempt, a.entries.map((e) => [e.type, e.detail])])).toEqual([
      [
        1,
        [
          ['CREATED', undefined],
          ['ASSIGNED', 'worker w1'],
          ['FAILED', 'exit 1'],
        ],
      ],
      [2, [['RETRIED', undefined]]],
    ]);
  });
});
