import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { type Harness, startHarness } from '@gyoza/test-support/api-harness';

// The app's default body limit (1 MB): the worst bodies are the ones that fill it.
let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(() => h.close());

/** Sends raw bytes (built before any clock starts) as it is, with the API key. */
function send(
  method: string,
  path: string,
  body: Buffer | string | undefined,
  contentType = 'application/json',
): Promise<{ status: number; json: { error?: { code: string; details?: { field: string }[] } } }> {
  const { port } = h.server.address() as AddressInfo;
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const headers: Record<string, string | number> = { 'X-API-Key': 'test-key-0123456789' };
  if (bytes !== undefined) Object.assign(headers, { 'Content-Type': contentType, 'Content-Length': bytes.length });
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : {} }));
    });
    req.on('error', reject);
    req.end(bytes);
  });
}

const fieldsOf = (answer: Awaited<ReturnType<typeof send>>) => answer.json.error?.details?.map((d) => d.field);
const keys = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 0]));
const nested = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;

async function snapshot() {
  const runs = (await h.store.runs.listRuns({ limit: 1000 })).runs;
  return {
    runs,
    events: await Promise.all(runs.map((r) => h.store.runs.listEvents(r.id))),
    definitions: await h.store.definitions.listDefinitions(),
    workers: await h.store.workers.listWorkers(),
  };
}

async function startedRun(): Promise<string> {
  const run = await h.api().post('/runs').send({ image: 'busybox' }).expect(201);
  await h
    .api()
    .post('/workers/heartbeat')
    .send({ worker_id: 'w1', resources: { cpu_cores: 4, ram_mb: 4096, gpus: [] } })
    .expect(200);
  await h.api().post('/workers/w1/claim').expect(200);
  await h.api().post(`/runs/${run.body.id}/events`).send({ type: 'STARTED' }).expect(200);
  return run.body.id;
}

const STALL_LIMIT_MS = 250;

/**
 * The longest event-loop stall while the request is served. The best of three tries, so
 * that a loaded machine descheduling this process is not taken for the app's own work.
 */
async function stallMs(request: () => Promise<unknown>): Promise<number> {
  // The 50 ms goal itself is measured by scripts/bench-hostile-input.js; here a loaded CI
  // machine gets room, while the quadratic parse this guards against stalled for seconds.
  const stalls: number[] = [];
  for (let i = 0; i < 3; i++) {
    const monitor = monitorEventLoopDelay({ resolution: 1 });
    monitor.enable();
    await request();
    // The monitor records a stall on its next tick: let it land before reading.
    await new Promise((resolve) => setTimeout(resolve, 20));
    monitor.disable();
    stalls.push(monitor.max / 1e6);
  }
  return Math.min(...stalls);
}

describe('hostile input is a clear 4xx, fast', () => {
  it('refuses nesting past 32 levels with a 400 naming the field, even 1 335 levels deep', async () => {
    const run = await startedRun();
    const before = await snapshot();
    for (const [path, body, field] of [
      ['/runs', `{"image":"x","inputs":${nested(1_335)}}`, 'inputs'],
      ['/runs', `{"image":"x","inputs":${nested(32)}}`, 'inputs'],
      [`/runs/${run}/events`, `{"type":"LOG","payload":${nested(2_000)}}`, 'payload'],
      [`/runs/${run}/events`, `{"type":"COMPLETED","payload":{"outputs":${nested(40)}}}`, 'payload.outputs'],
      ['/definitions', `{"id":"d","version":"1","image":"x","event_delivery":${nested(40)}}`, 'event_delivery'],
    ] as const) {
      const answer = await send('POST', path, body);
      expect([path, answer.status, answer.json.error?.code]).toEqual([path, 400, 'VALIDATION_FAILED']);
      const [named] = fieldsOf(answer) ?? [];
      expect(named?.startsWith(`${field}.a`)).toBe(true);
      expect(answer.json.error).toMatchObject({ message: expect.stringContaining('nests deeper than 32 levels') });
    }
    // 31 levels under inputs (32 with the body) is still accepted.
    await send('POST', '/runs', `{"image":"x","inputs":${nested(31)}}`).then((a) => expect(a.status).toBe(201));
    const after = await snapshot();
    expect(after.runs).toHaveLength(before.runs.length + 1);
    expect(after.definitions).toEqual(before.definitions);
  });

  it('refuses 70k keys at the body limit with a 400 naming the field, without stalling the event loop', async () => {
    const run = await startedRun();
    const inputs = Buffer.from(JSON.stringify({ image: 'busybox', inputs: keys(70_000) }));
    const topLevel = Buffer.from(JSON.stringify({ image: 'busybox', ...keys(70_000) }));
    const payload = Buffer.from(JSON.stringify({ type: 'COMPLETED', payload: { outputs: keys(70_000) } }));
    expect(inputs.length).toBeGreaterThan(700_000);
    const before = await snapshot();
    expect(fieldsOf(await send('POST', '/runs', inputs))).toEqual(['inputs']);
    expect(fieldsOf(await send('POST', '/runs', topLevel))).toEqual(['body']);
    expect(fieldsOf(await send('POST', `/runs/${run}/events`, payload))).toEqual(['payload.outputs']);
    // Outside free-form fields (what class-transformer would copy) the bound is 1 000.
    const constraints = await send('POST', '/runs', JSON.stringify({ image: 'x', constraints: keys(5_000) }));
    expect(fieldsOf(constraints)).toEqual(['constraints']);
    expect(await snapshot()).toEqual(before);

    for (const body of [inputs, topLevel]) {
      expect(await stallMs(() => send('POST', '/runs', body))).toBeLessThan(STALL_LIMIT_MS);
    }
    expect(await stallMs(() => Promise.all([0, 1, 2, 3].map(() => send('POST', '/runs', inputs))))).toBeLessThan(
      STALL_LIMIT_MS,
    );
    // Many small fields within the limits are accepted, still without a long stall.
    const many = Buffer.from(JSON.stringify({ image: 'busybox', inputs: keys(9_000) }));
    expect(await stallMs(() => send('POST', '/runs', many))).toBeLessThan(STALL_LIMIT_MS);
  });

  it('refuses __proto__, constructor and prototype keys by name, at any depth', async () => {
    const run = await startedRun();
    const before = await snapshot();
    for (const [path, body, field] of [
      ['/runs', '{"image":"x","inputs":{"__proto__":{"admin":true}}}', 'inputs.__proto__'],
      ['/runs', '{"image":"x","inputs":{"a":[{"constructor":1}]}}', 'inputs.a.0.constructor'],
      ['/runs', '{"image":"x","__proto__":{"image":"y"}}', '__proto__'],
      ['/runs', '{"image":"x","constraints":{"constructor":{"prototype":1}}}', 'constraints.constructor'],
      [
        '/definitions',
        '{"id":"d","version":"1","image":"x","input_specs":{"prototype":{"type":"string"}}}',
        'input_specs.prototype',
      ],
      [
        `/runs/${run}/events`,
        '{"type":"COMPLETED","payload":{"outputs":{"constructor":"x"}}}',
        'payload.outputs.constructor',
      ],
      [`/runs/${run}/events`, '{"type":"LOG","payload":{"\\u005f_proto__":1}}', 'payload.__proto__'],
    ] as const) {
      const answer = await send('POST', path, body);
      expect([body, answer.status, fieldsOf(answer)]).toEqual([body, 400, [field]]);
      expect(answer.json.error).toMatchObject({ message: expect.stringContaining('reserved name') });
    }
    expect(await snapshot()).toEqual(before);
  });

  it('refuses NUL, U+FFFD and invalid UTF-8 in ids and image names with a 400 naming the field', async () => {
    await h.api().post('/definitions').send({ id: 'd', version: '1', image: 'busybox' }).expect(200);
    const before = await snapshot();
    const cases: [string, string, Buffer | string, string][] = [
      ['POST', '/runs', JSON.stringify({ image: 'busybox\u0000' }), 'image'],
      ['POST', '/runs', JSON.stringify({ image: 'busy\uFFFDbox' }), 'image'],
      ['POST', '/runs', '{"image":"busy\\ud800box"}', 'image'],
      ['POST', '/runs', JSON.stringify({ definition_id: 'd\u0000' }), 'definition_id'],
      ['POST', '/definitions', JSON.stringify({ id: 'd', version: '1\uFFFD', image: 'x' }), 'version'],
      ['POST', '/definitions', JSON.stringify({ id: 'd', version: '1', image: 'x\u0000' }), 'image'],
      [
        'POST',
        '/workers/heartbeat',
        JSON.stringify({ worker_id: 'w\u0000', resources: { cpu_cores: 1, ram_mb: 1 } }),
        'worker_id',
      ],
      [
        'POST',
        '/workers/heartbeat',
        JSON.stringify({ worker_id: 'w1', resources: { cpu_cores: 1, ram_mb: 1 }, running_ops: ['run_\uFFFD'] }),
        'running_ops.0',
      ],
      // Raw bytes that are not UTF-8 (0xff): refused before they could decode to U+FFFD.
      [
        'POST',
        '/runs',
        Buffer.concat([Buffer.from('{"image":"busy'), Buffer.from([0xff]), Buffer.from('box"}')]),
        'body',
      ],
    ];
    for (const [method, path, body, field] of cases) {
      const answer = await send(method, path, body);
      expect([path, field, answer.status, fieldsOf(answer)]).toEqual([path, field, 400, [field]]);
    }
    for (const [path, field] of [
      ['/runs/run_%00x', 'id'],
      ['/runs/run_%EF%BF%BD', 'id'],
      ['/definitions/d%00', 'name'],
      ['/runs/%FF', 'path'],
    ]) {
      const answer = await send('GET', path, undefined);
      expect([path, answer.status, fieldsOf(answer)]).toEqual([path, 400, [field]]);
    }
    expect(await snapshot()).toEqual(before);
  });

  it('takes only application/json (utf-8) bodies: 415 otherwise; no body where one is optional still works', async () => {
    const before = await snapshot();
    const body = JSON.stringify({ image: 'busybox' });
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/json; charset=latin1',
      'application/merge-patch+json',
    ]) {
      const answer = await send('POST', '/runs', body, type);
      expect([type, answer.status, answer.json.error?.code]).toEqual([type, 415, 'UNSUPPORTED_MEDIA_TYPE']);
    }
    expect(await snapshot()).toEqual(before);
    expect((await send('POST', '/runs', body, 'application/json; charset=UTF-8')).status).toBe(201);
    expect((await send('POST', '/runs', body, 'application/json')).status).toBe(201);
    const run = (
      await h
        .api()
        .post('/runs')
        .send({ image: 'busybox', retry_policy: { max_attempts: 2 } })
    ).body.id;
    // No body at all on routes whose body is optional or absent (what the client and CLI send).
    expect((await send('POST', `/runs/${run}/cancel`, undefined)).status).toBe(200);
    expect((await send('POST', `/runs/${run}/retry`, undefined)).status).toBe(200);
    expect((await send('POST', '/definitions/nope/runs', undefined)).status).toBe(404);
  });
  it('refuses unpaired surrogates and numbers JSON cannot say again (1e400), naming the field, writing nothing', async () => {
    const run = await startedRun();
    const before = await snapshot();
    const cases: [string, string, string, string][] = [
      ['POST', `/runs/${run}/events`, '{"type":"LOG","msg":"a\\ud800b"}', 'msg'],
      ['POST', `/runs/${run}/cancel`, '{"reason":"r\\udc00"}', 'reason'],
      ['POST', '/runs', '{"image":"busybox","inputs":{"x":1e400}}', 'inputs.x'],
      ['POST', '/runs', '{"image":"busybox","inputs":{"k\\udc00":1}}', 'inputs.k\udc00'],
      ['POST', `/runs/${run}/events`, '{"type":"PROGRESS","msg":1e400}', 'msg'],
    ];
    for (const [method, path, body, field] of cases) {
      const answer = await send(method, path, body);
      expect([path, answer.status, fieldsOf(answer)]).toEqual([path, 400, [field]]);
    }
    expect(await snapshot()).toEqual(before);
    // Paired surrogates (an emoji) are text like any other.
    expect((await send('POST', `/runs/${run}/events`, '{"type":"LOG","msg":"ok \\ud83d\\ude00"}')).status).toBe(200);
  });

  it('refuses an event text longer than 65,536 characters, keeping one at the limit', async () => {
    const run = await startedRun();
    const log = (msg: string) => h.api().post(`/runs/${run}/events`).send({ type: 'LOG', msg });
    expect((await log('x'.repeat(65_537)).expect(400)).body.error.details[0].field).toBe('msg');
    const failed = { type: 'FAILED', payload: { error_message: 'y'.repeat(65_537) } };
    const answer = await h.api().post(`/runs/${run}/events`).send(failed).expect(400);
    expect(answer.body.error.details[0].field).toBe('payload.error_message');
    await log('x'.repeat(65_536)).expect(200);
  });
});
