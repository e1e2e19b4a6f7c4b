import { issues } from '../test/issues';
import { normalizeEventDelivery } from './index';

describe('normalizeEventDelivery', () => {
  it('keeps an http(s) webhook, event types and secret; none means {}', () => {
    const full = { webhook_url: 'https://hooks.local/x', event_types: ['COMPLETED', 'FAILED'], secret: 's' };
    expect(normalizeEventDelivery(full)).toEqual(full);
    expect(normalizeEventDelivery(full).event_types).not.toBe(full.event_types);
    expect(normalizeEventDelivery({ webhook_url: 'http://127.0.0.1:8080/h', secret: null as never })).toEqual({
      webhook_url: 'http://127.0.0.1:8080/h',
    });
    expect(normalizeEventDelivery(undefined)).toEqual({});
    expect(normalizeEventDelivery(null)).toEqual({});
  });

  it('accepts every event type a run records, server and worker ones', () => {
    const all = ['CREATED', 'ASSIGNED', 'UNASSIGNED', 'RETRIED', 'TIMED_OUT', 'WORKER_LOST', 'STARTED', 'PROGRESS'];
    const more = ['COMPLETED', 'FAILED', 'CANCELLED', 'LOG', 'INFO'];
    expect(normalizeEventDelivery({ event_types: [...all, ...more] }).event_types).toHaveLength(13);
  });

  it.each([
    [{ webhook_url: 'ftp://x' }, 'event_delivery.webhook_url'],
    [{ webhook_url: 'not a url' }, 'event_delivery.webhook_url'],
    [{ event_types: 'COMPLETED' }, 'event_delivery.event_types'],
    [{ event_types: [''] }, 'event_delivery.event_types'],
    [{ event_types: ['COMPLETED', 'completed'] }, 'event_delivery.event_types'],
    [{ event_types: ['BOGUS'] }, 'event_delivery.event_types'],
    [{ secret: '' }, 'event_delivery.secret'],
    [{ secret: 'whsec_' }, 'event_delivery.secret'],
    [{ secret: 'whsec_!!!!' }, 'event_delivery.secret'],
    [{ secret: 'whsec_BwcHBwcHBwcHBwcHBwcH' }, 'event_delivery.secret'], // 15 bytes
    ['https://x', 'event_delivery'],
    [[], 'event_delivery'],
  ])('refuses %j at %s', (input, field) => {
    expect(issues(() => normalizeEventDelivery(input as never))?.map((i) => i.field)).toEqual([field]);
  });
});
