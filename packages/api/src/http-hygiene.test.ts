import { API_KEY, type Harness, startHarness } from '@gyoza/test-support/api-harness';
import request from 'supertest';
import { createApp } from './index';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(() => h.close());

const SECRET = 'webhook-s3cr3t-value';

describe('secrets', () => {
  it('never returns the webhook secret, only has_secret', async () => {
    const delivery = { webhook_url: 'http://127.0.0.1:9/hook', event_types: ['COMPLETED'], secret: SECRET };
    const answers: unknown[] = [];
    const keep = async (test: request.Test) => {
      const res = await test;
      expect(res.status).toBeLessThan(300);
      answers.push(res.body);
      return res.body;
    };
    const def = await keep(
      h.api().post('/definitions').send({ id: 'hook', version: '1', image: 'x', event_delivery: delivery }),
    );
    expect(def.event_delivery).toEqual({
      webhook_url: delivery.webhook_url,
      event_types: ['COMPLETED'],
      has_secret: true,
    });
    await keep(h.api().get('/definitions'));
    await keep(h.api().get('/definitions?latest=true'));
    await keep(h.api().get('/definitions/hook'));
    await keep(h.api().get('/definitions/hook/versions'));
    const fromDef = await keep(h.api().post('/definitions/hook/runs').send({}));
    const adHoc = await keep(
      h
        .api()
        .post('/runs')
        .send({ image: 'x', event_delivery: delivery, retry_policy: { max_attempts: 2 } }),
    );
    expect(adHoc.event_delivery.has_secret).toBe(true);
    await keep(h.api().get('/runs'));
    await keep(h.api().get('/search/runs'));
    await keep(h.api().get(`/runs/${fromDef.id}`));
    await keep(h.api().patch(`/runs/${fromDef.id}`).send({ priority: 3 }));
    await keep(
      h
        .api()
        .post('/workers/heartbeat')
        .send({ worker_id: 'w1', resources: { cpu_cores: 4, ram_mb: 4096 } }),
    );
    await keep(h.api().post('/workers/w1/claim?limit=2'));
    await keep(h.api().post(`/runs/${fromDef.id}/events`).send({ type: 'STARTED' }));
    await keep(h.api().get(`/runs/${fromDef.id}/events`));
    await keep(h.api().post(`/runs/${adHoc.id}/cancel`));
    await keep(h.api().post(`/runs/${adHoc.id}/retry`));
    const text = JSON.stringify(answers);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain('"secret"');
    // Stored all the same, for signing deliveries.
    expect((await h.store.definitions.getDefinition('hook'))?.event_delivery.secret).toBe(SECRET);
    const plain = await keep(h.api().post('/runs').send({ image: 'x' }));
    expect(plain.event_delivery).toEqual({ has_secret: false });
  });
});

describe('security headers', () => {
  it('sends nosniff, frame denial and no-store on every answer; Swagger UI still loads', async () => {
    const answers = [
      await h.api().get('/health'),
      await h.api().get('/runs'),
      await h.api().get('/runs/run_missing'),
      await h.api().get('/runs').set('X-API-Key', 'wrong'),
      await h.api().post('/runs').send({}),
    ];
    for (const res of answers) {
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
      expect(res.headers['cache-control']).toBe('no-store');
    }
    const page = await h.api().get('/docs/').expect(200);
    expect(page.headers['x-frame-options']).toBe('DENY');
    const scripts = [...page.text.matchAll(/<script src="\.\/([^"]+)"/g)].map((m) => m[1]);
    expect(scripts).toContain('swagger-ui-init.js');
    // Only scripts from the same origin, which the CSP's script-src 'self' allows.
    expect(page.text).not.toMatch(/<script>(?!\s*<\/script>)/);
    for (const script of scripts) await h.api().get(`/docs/${script}`).expect(200);
  });
});

describe('failed authentication limit', () => {
  it('answers 429 with Retry-After after 20 failures a minute from one address, while a right key still works', async () => {
    for (let i = 0; i < 20; i++) {
      const res = await h
        .api()
        .get('/runs')
        .set('X-API-Key', i % 2 ? 'wrong' : '');
      expect([i, res.status]).toEqual([i, 401]);
      if (i === 10) await h.api().get('/runs').expect(200);
    }
    const limited = await h.api().get('/runs').set('X-API-Key', 'wrong').expect(429);
    expect(limited.body.error.code).toBe('RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    await request(h.server).get('/runs').expect(429);
    // A right key is never refused, and does not count.
    for (let i = 0; i < 5; i++) await h.api().get('/runs').expect(200);
    await h.api().get('/health').unset('X-API-Key').expect(200);
  });

  it('counts per app, with the limit the app was given', async () => {
    const app = createApp({ store: h.store, scheduler: h.scheduler, apiKey: API_KEY, authFailuresPerMinute: 2 });
    await request(app).get('/runs').expect(401);
    await request(app).get('/runs').expect(401);
    await request(app).get('/runs').expect(429);
    await request(app).get('/runs').set('X-API-Key', API_KEY).expect(200);
  });
});

describe('405 for unknown methods on known paths', () => {
  it('answers 405 with Allow, OPTIONS with 204 and Allow, and unknown paths still 404', async () => {
    for (const [method, path, allow] of [
      ['put', '/runs', 'GET, HEAD, POST, OPTIONS'],
      ['delete', '/runs/run_x', 'GET, HEAD, PATCH, OPTIONS'],
      ['get', '/runs/run_x/cancel', 'POST, OPTIONS'],
      ['put', '/definitions/d', 'GET, HEAD, DELETE, OPTIONS'],
      ['post', '/openapi.json', 'GET, HEAD, OPTIONS'],
      ['delete', '/health', 'GET, HEAD, OPTIONS'],
    ] as const) {
      const res = await h.api()[method](path);
      expect([method, path, res.status, res.body.error?.code, res.headers.allow]).toEqual([
        method,
        path,
        405,
        'METHOD_NOT_ALLOWED',
        allow,
      ]);
    }
    const options = await h.api().options('/runs').expect(204);
    expect(options.headers.allow).toBe('GET, HEAD, POST, OPTIONS');
    await h.api().put('/nope').expect(404);
  });
});
