import { verifyWebhook, WebhookVerificationError } from './webhooks';

// The example of the Standard Webhooks specification (standardwebhooks.com).
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const BODY = '{"test": 2432232314}';
const HEADERS = {
  'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  'webhook-timestamp': '1614265330',
  'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};
const NOW = new Date(1614265330 * 1000 + 10_000);

describe('verifyWebhook', () => {
  it("accepts the specification's example and returns the parsed body", () => {
    expect(verifyWebhook(HEADERS, BODY, SECRET, { now: NOW })).toEqual({ test: 2432232314 });
    expect(verifyWebhook(new Headers(HEADERS), Buffer.from(BODY), SECRET, { now: NOW })).toEqual({ test: 2432232314 });
  });

  it('accepts any of several signatures (a secret rotation)', () => {
    const headers = { ...HEADERS, 'webhook-signature': `v1,bm90IGl0 ${HEADERS['webhook-signature']}` };
    expect(verifyWebhook(headers, BODY, SECRET, { now: NOW })).toEqual({ test: 2432232314 });
  });

  it('refuses a changed body, another secret, an old timestamp and missing headers', () => {
    const refused = (fn: () => unknown) => expect(fn).toThrow(WebhookVerificationError);
    refused(() => verifyWebhook(HEADERS, '{"test": 2432232315}', SECRET, { now: NOW }));
    refused(() => verifyWebhook(HEADERS, BODY, 'whsec_b3RoZXI=', { now: NOW }));
    refused(() => verifyWebhook(HEADERS, BODY, SECRET, { now: new Date(NOW.getTime() + 600_000) }));
    refused(() => verifyWebhook({ ...HEADERS, 'webhook-id': undefined }, BODY, SECRET, { now: NOW }));
  });
});
