import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRun } from '@gyoza/domain';
import { waitFor } from '@gyoza/test-support';
import { API_KEY, type Harness, startHarness } from '@gyoza/test-support/api-harness';
import pino from 'pino';
import request from 'supertest';
import { createApp, ROUTES } from './index';

let h: Harness;
beforeEach(async () => {
  h = await startHarness({ bodyLimit: '64kb' });
});
afterEach(() => h.close());

const definition = {
  id: 'resize',
  version: '1.0',
  image: 'busybox:latest',
  input_specs: { size: { type: 'integer', default: 512 }, url: { type: 'string' } },
  constraints: { cpu_cores: 1, ram_mb: 256 },
  retry_policy: { max_attempts: 2, backoff_seconds: 10 },
};
const worker = (id = 'w1', gpus: { id: number; vram_mb: number }[] = []) => ({
  worker_id: id,
  resources: { cpu_cores: 4, ram_mb: 4096, gpus },
  tags: ['linux'],
  running_ops: [],
});

async function deployAndRun(inputs: Record<string, unknown> = { url: 'http://x/y.png' }) {
  await h.api().post('/definitions').send(definition).expect(200);
  return (await h.api().post('/definitions/resize/runs').send({ inputs }).expect(201)).body;
}

/** A run claimed, started and FAILED once, its automatic retry scheduled an hour later. */
async function failedWithRetryScheduled() {
  const run = (
    await h
      .api()
      .post('/runs')
      .send({ image: 'busybox', retry_policy: { max_attempts: 3, backoff_seconds: 3600 } })
      .expect(201)
  ).body;
  await claimOne();
  await h.api().post(`/runs/${run.id}/events`).send({ type: 'STARTED' }).expect(200);
  const failed = await h.api().post(`/runs/${run.id}/events`).send({ type: 'FAILED', msg: 'exit 1' }).expect(200);
  expect(failed.body.not_before).toBeDefined();
  return run;
}

async function claimOne(workerId = 'w1') {
  await h.api().post('/workers/heartbeat').send(worker(workerId)).expect(200);
  const { body } = await h.api().post(`/workers/${workerId}/claim`).expect(200);
  return body.ops;
}

/** Snapshot of everything a refused request must leave alone. */
async function snapshot() {
  const runs = (await h.store.runs.listRuns({ limit: 1000 })).runs;
  const events = await Promise.all(runs.map((r) => h.store.runs.listEvents(r.id)));
  return {
    runs,
    events,
    definitions: await h.store.definitions.listDefinitions(),
    workers: await h.store.workers.listWorkers(),
  };
}

describe('request logs', () => {
  it('log each request with its id and never the API key', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });
    const app = createApp({ store: h.store, scheduler: h.scheduler, apiKey: API_KEY, logger });
    await request(app).get('/runs').set('X-API-Key', API_KEY).set('X-Request-Id', 'req-42').expect(200);
    const logged = lines.join('');
    expect(logged).toContain('"id":"req-42"');
    expect(logged).not.toContain(API_KEY);
  });

  it('log answered requests at debug and refused ones at warn, so info stays quiet under load', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const app = createApp({ store: h.store, scheduler: h.scheduler, apiKey: API_KEY, logger });
    await request(app).get('/runs').set('X-API-Key', API_KEY).set('X-Request-Id', 'req-ok').expect(200);
    await request(app).get('/runs/run_missing').set('X-API-Key', API_KEY).set('X-Request-Id', 'req-404').expect(404);
    const logged = lines.map((line) => JSON.parse(line));
    expect(logged.find((l) => l.req?.id === 'req-ok')).toBeUndefined();
    expect(logged.find((l) => l.req?.id === 'req-404')).toMatchObject({ level: 40, res: { statusCode: 404 } });
  });

  it('answer X-Request-Id: the one given when it is a plain token, else one made up', async () => {
    const app = createApp({ store: h.store, scheduler: h.scheduler, apiKey: API_KEY });
    const given = await request(app).get('/health').set('X-Request-Id', 'req-7.a_b').expect(200);
    expect(given.headers['x-request-id']).toBe('req-7.a_b');
    const made = await request(app).get('/health').set('X-Request-Id', 'no spaces, please').expect(200);
    expect(made.headers['x-request-id']).toMatch(new RegExp(`^${process.pid}-\\d+$`));
    const refused = await request(app).get('/runs').expect(401);
    expect(refused.headers['x-request-id']).toMatch(new RegExp(`^${process.pid}-\\d+$`));
  });

  it('log a failure at error with the request it failed, through the request logger', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const store = {
      ...h.store,
      runs: { ...h.store.runs, getRun: () => Promise.reject(new Error('disk on fire')) },
    } as typeof h.store;
    const app = createApp({ store, scheduler: h.scheduler, apiKey: API_KEY, logger });
    await request(app).get('/runs/run_x').set('X-API-Key', API_KEY).set('X-Request-Id', 'req-500').expect(500);
    const logged = lines.map((line) => JSON.parse(line)).filter((l) => l.req?.id === 'req-500');
    expect(logged).toEqual([
      expect.objectContaining({
        level: 50,
        msg: 'unhandled error',
        err: expect.objectContaining({ message: 'disk on fire' }),
      }),
      expect.objectContaining({ level: 50, msg: 'request errored', res: { statusCode: 500 } }),
    ]);
    expect(logged[0].req).toEqual({
      id: 'req-500',
      method: 'GET',
      url: '/runs/run_x',
      remoteAddress: expect.any(String),
    });
    expect(lines.join('')).not.toContain(API_KEY);
  });
});

describe('auth', () => {
  it('needs X-API-Key on every route but /health', async () => {
    // Two failures per route from one address: above the default failure limit.
    const app = createApp({ store: h.store, scheduler: h.scheduler, apiKey: API_KEY, authFailuresPerMinute: 1000 });
    await request(app).get('/health').expect(200, { status: 'ok' });
    for (const route of ROUTES.filter((r) => !r.open)) {
      const path = route.path.replace(/:\w+/g, 'x');
      const missing = await request(app)[route.method](path);
      expect([route.path, missing.status, missing.body.error?.code]).toEqual([route.path, 401, 'UNAUTHORIZED']);
      const wrong = await request(app)[route.method](path).set('X-API-Key', `${API_KEY}x`);
      expect([route.path, wrong.status]).toEqual([route.path, 401]);
    }
    await request(app).get('/openapi.json').expect(401);
  });
});

describe('failed authentications behind a proxy', () => {
  it('count per forwarded client address only when the proxy is trusted', async () => {
    const failures = async (app: ReturnType<typeof createApp>, client: string, n: number) => {
      const statuses: number[] = [];
      for (let i = 0; i < n; i++) {
        statuses.push((await request(app).get('/runs').set('X-Forwarded-For', client).set('X-API-Key', 'nope')).status);
      }
      return statuses;
    };
    const options = { store: h.store, scheduler: h.scheduler, apiKey: API_KEY, authFailuresPerMinute: 3 };
    const trusting = createApp({ ...options, trustProxy: ['127.0.0.1/32', '::1/128', '::ffff:127.0.0.1/128'] });
    expect(await failures(trusting, '10.0.0.1', 4)).toEqual([401, 401, 401, 429]);
    expect(await failures(trusting, '10.0.0.2', 1)).toEqual([401]);
    // Not trusted: the header is ignored, every client shares the proxy's (the socket's) count.
    const plain = createApp(options);
    expect(await failures(plain, '10.0.0.1', 3)).toEqual([401, 401, 401]);
    expect(await failures(plain, '10.0.0.2', 1)).toEqual([429]);
  });
});

describe('readiness', () => {
  it('answers /ready without a key while the store reads, 503 STORE_UNAVAILABLE once it cannot', async () => {
    const app = createApp({ store: h.store, scheduler: h.scheduler, apiKey: API_KEY });
    await request(app).get('/ready').expect(200, { status: 'ready', store: 'sqlite' });
    await h.store.close();
    const down = await request(app).get('/ready').expect(503);
    expect(down.body.error.code).toBe('STORE_UNAVAILABLE');
    // Liveness says nothing of the store.
    await request(app).get('/health').expect(200, { status: 'ok' });
  });
});

describe('definitions', () => {
  it('upserts, gets latest or a version, lists, lists versions, deletes', async () => {
    const v1 = await h.api().post('/definitions').send(definition).expect(200);
    expect(v1.body).toMatchObject({ id: 'resize', version: '1.0', image: 'busybox:latest' });
    h.now.value = new Date('2026-03-01T00:01:00.000Z');
    await h
      .api()
      .post('/definitions')
      .send({ ...definition, version: '2.0', image: 'busybox:2' })
      .expect(200);
    await h.api().post('/definitions').send({ id: 'other', version: '1', image: 'x' }).expect(200);
    expect((await h.api().get('/definitions/resize').expect(200)).body.version).toBe('2.0');
    expect((await h.api().get('/definitions/resize?version=1.0').expect(200)).body.image).toBe('busybox:latest');
    expect((await h.api().get('/definitions?latest=true').expect(200)).body.map((d: { id: string }) => d.id)).toEqual([
      'other',
      'resize',
    ]);
    // Without the filter: every version (the seed's list_op_definitions), by id, newest first.
    const all = (await h.api().get('/definitions').expect(200)).body;
    expect(all.map((d: { id: string; version: string }) => `${d.id}@${d.version}`)).toEqual([
      'other@1',
      'resize@2.0',
      'resize@1.0',
    ]);
    await h.api().get('/definitions?latest=yes').expect(400);
    expect(
      (await h.api().get('/definitions/resize/versions').expect(200)).body.map((d: { version: string }) => d.version),
    ).toEqual(['2.0', '1.0']);
    // Replacing keeps created_at.
    const replaced = await h
      .api()
      .post('/definitions')
      .send({ ...definition, image: 'busybox:new' })
      .expect(200);
    expect(replaced.body.created_at).toBe(v1.body.created_at);
    await h.api().delete('/definitions/resize?version=2.0').expect(200, { deleted: 1 });
    expect((await h.api().get('/definitions/resize').expect(200)).body.version).toBe('1.0');
    await h.api().delete('/definitions/resize').expect(200, { deleted: 1 });
    const gone = await h.api().get('/definitions/resize').expect(404);
    expect(gone.body.error.code).toBe('NOT_FOUND');
    await h.api().delete('/definitions/resize').expect(404);
    await h.api().get('/definitions/resize/versions').expect(404);
  });

  it('names every invalid field and stores nothing', async () => {
    const before = await snapshot();
    const res = await h
      .api()
      .post('/definitions')
      .send({
        id: 'Bad Id',
        version: '1',
        image: 'x',
        constraints: { ram_mb: 1.5 },
        input_specs: { a: { type: 'text' } },
      })
      .expect(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
    expect(res.body.error.details.map((d: { field: string }) => d.field)).toEqual(['constraints.ram_mb']);
    const domain = await h
      .api()
      .post('/definitions')
      .send({ id: 'Bad Id', version: '1', image: 'x', input_specs: { a: { type: 'text' } } })
      .expect(400);
    expect(domain.body.error.details.map((d: { field: string }) => d.field)).toEqual(['id', 'input_specs.a.type']);
    expect(await snapshot()).toEqual(before);
  });
});

describe('runs', () => {
  it('creates from a definition with defaults, validates inputs by field', async () => {
    const run = await deployAndRun();
    expect(run).toMatchObject({
      definition_id: 'resize',
      definition_version: '1.0',
      inputs: { url: 'http://x/y.png', size: 512 },
      state: 'PENDING',
    });
    expect(run).not.toHaveProperty('pending_reason');
    expect((await h.api().get(`/runs/${run.id}`).expect(200)).body).toMatchObject({
      pending_reason: 'no active worker',
    });
    expect(run).not.toHaveProperty('rev');
    const before = await snapshot();
    const bad = await h
      .api()
      .post('/definitions/resize/runs')
      .send({ inputs: { size: 'big', nope: 1 } })
      .expect(400);
    expect(bad.body.error.details).toEqual([
      { field: 'inputs.nope', message: 'unknown input' },
      { field: 'inputs.size', message: 'must be of type integer' },
      { field: 'inputs.url', message: 'is required' },
    ]);
    await h.api().post('/definitions/nope/runs').send({}).expect(404);
    await h.api().post('/definitions/resize/runs?version=9').send({}).expect(404);
    expect(await snapshot()).toEqual(before);
  });

  it('creates ad hoc runs and refuses mixing a definition with an image', async () => {
    const res = await h
      .api()
      .post('/runs')
      .send({ image: 'busybox', inputs: { a: [1] }, priority: 3 })
      .expect(201);
    expect(res.body).toMatchObject({ image: 'busybox', priority: 3, state: 'PENDING' });
    await h.api().post('/definitions').send(definition).expect(200);
    const viaBody = await h
      .api()
      .post('/runs')
      .send({ definition_id: 'resize', version: '1.0', inputs: { url: 'u' } })
      .expect(201);
    expect(viaBody.body.definition_version).toBe('1.0');
    const mixed = await h.api().post('/runs').send({ definition_id: 'resize', image: 'x' }).expect(400);
    expect(mixed.body.error.details[0].field).toBe('image');
    const none = await h.api().post('/runs').send({}).expect(400);
    expect(none.body.error.details[0].field).toBe('image');
  });

  it('honors Idempotency-Key: same body gives the same run, another body a 409', async () => {
    const first = await h.api().post('/runs').set('Idempotency-Key', 'abc-1').send({ image: 'busybox' }).expect(201);
    const again = await h.api().post('/runs').set('Idempotency-Key', 'abc-1').send({ image: 'busybox' }).expect(200);
    expect(again.body.id).toBe(first.body.id);
    const conflict = await h.api().post('/runs').set('Idempotency-Key', 'abc-1').send({ image: 'other' }).expect(409);
    expect(conflict.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect((await h.api().get('/runs').expect(200)).body.runs).toHaveLength(1);
    await h.api().post('/runs').set('Idempotency-Key', 'bad key with spaces').send({ image: 'x' }).expect(400);
  });

  it('answers a replay from the request it repeats: the same JSON however stored, another webhook a 409', async () => {
    const raw = '{"image":"busybox","inputs":{"zero":-0,"tiny":1e-400}}';
    const post = (key: string) => h.api().post('/runs').set('Idempotency-Key', key).type('json');
    const first = await post('numbers').send(raw).expect(201);
    // Stored as 0 and 0, but asked the same way: the same request. (1e400 is refused: not finite.)
    expect((await post('numbers').send(raw).expect(200)).body.id).toBe(first.body.id);
    const hook = (url: string) => ({ image: 'busybox', event_delivery: { webhook_url: url } });
    const hooked = await post('hooked').send(hook('http://127.0.0.1:9/a')).expect(201);
    // Another webhook is another request, even though the run's image and inputs are the same.
    expect((await post('hooked').send(hook('http://127.0.0.1:9/b')).expect(409)).body.error.code).toBe(
      'IDEMPOTENCY_KEY_REUSED',
    );
    expect((await post('hooked').send(hook('http://127.0.0.1:9/a')).expect(200)).body.id).toBe(hooked.body.id);
    // Keys in another order are the same JSON object.
    const ordered = await post('order').send('{"image":"busybox","priority":2}').expect(201);
    expect((await post('order').send('{"priority":2,"image":"busybox"}').expect(200)).body.id).toBe(ordered.body.id);
    expect((await h.api().get('/runs').expect(200)).body.runs).toHaveLength(3);
    expect(first.body).not.toHaveProperty('idempotency_fingerprint');
  });

  it('compares a replay with the run itself for a run stored before runs kept their request', async () => {
    const now = new Date();
    const { run } = await h.store.runs.createRun(
      createRun({ image: 'busybox', inputs: { a: 1 }, idempotency_key: 'before' }, null, now),
      now,
    );
    expect(run.idempotency_fingerprint).toBeUndefined();
    const post = () => h.api().post('/runs').set('Idempotency-Key', 'before');
    expect(
      (
        await post()
          .send({ inputs: { a: 1 }, image: 'busybox' })
          .expect(200)
      ).body.id,
    ).toBe(run.id);
    await post()
      .send({ image: 'busybox', inputs: { a: 2 } })
      .expect(409);
  });

  it('answers a replay of a run of a definition with the first run after a new version, and after the definition is gone', async () => {
    await h.api().post('/definitions').send(definition).expect(200);
    const post = () =>
      h
        .api()
        .post('/definitions/resize/runs')
        .set('Idempotency-Key', 'latest')
        .send({ inputs: { url: 'u' } });
    const first = await post().expect(201);
    await h
      .api()
      .post('/definitions')
      .send({ ...definition, version: '2.0' })
      .expect(200);
    const afterNewVersion = await post().expect(200);
    expect(afterNewVersion.body).toMatchObject({ id: first.body.id, definition_version: '1.0' });
    await h.api().delete('/definitions/resize').expect(200);
    expect((await post().expect(200)).body.id).toBe(first.body.id);
    // Another request under the key is still refused, before the definition it names is looked for.
    await h
      .api()
      .post('/definitions/resize/runs')
      .set('Idempotency-Key', 'latest')
      .send({ inputs: { url: 'other' } })
      .expect(409);
    expect((await h.api().get('/runs').expect(200)).body.runs).toHaveLength(1);
  });

  it('lists with filters and a cursor', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await h.api().post('/runs').send({ image: 'busybox' }).expect(201)).body.id);
    await h.api().post(`/runs/${ids[0]}/cancel`).send({}).expect(200);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await h
        .api()
        .get('/runs')
        .query({ limit: 3, ...(cursor ? { cursor } : {}) })
        .expect(200);
      seen.push(...page.body.runs.map((r: { id: string }) => r.id));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen.sort()).toEqual([...ids].sort());
    const cancelled = await h.api().get('/runs?state=CANCELLED').expect(200);
    expect(cancelled.body.runs.map((r: { id: string }) => r.id)).toEqual([ids[0]]);
    expect((await h.api().get('/runs?state=PENDING,CANCELLED').expect(200)).body.runs).toHaveLength(7);
    expect((await h.api().get('/runs?state=PENDING&state=CANCELLED').expect(200)).body.runs).toHaveLength(7);
    const bad = await h.api().get('/runs?state=DONE&limit=0').expect(400);
    expect(bad.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual(['limit', 'state']);
    await h.api().get('/runs?cursor=nonsense').expect(400);
  });

  it('runs the whole worker flow: heartbeat, claim, events, completion', async () => {
    const run = await deployAndRun();
    const ops = await claimOne();
    expect(ops).toEqual([
      {
        id: run.id,
        attempt: 1,
        image: 'busybox:latest',
        inputs: { url: 'http://x/y.png', size: 512 },
        constraints: expect.objectContaining({ cpu_cores: 1, ram_mb: 256 }),
        gpu_ids: [],
        assignment_id: expect.stringMatching(/^asg_[0-9a-f]{24}$/),
        definition_id: 'resize',
        definition_version: '1.0',
      },
    ]);
    const post = (body: object) => h.api().post(`/runs/${run.id}/events`).send(body);
    await post({ type: 'STARTED', payload: { worker_id: 'w1' } }).expect(200);
    await post({ type: 'PROGRESS', msg: 40 }).expect(200);
    await post({ type: 'LOG', msg: 'resizing' }).expect(200);
    const done = await post({ type: 'COMPLETED', payload: { outputs: { url: 'http://x/out.png' } } }).expect(200);
    expect(done.body.state).toBe('COMPLETED');
    // The answer is the updated run (the seed's add_event_to_run).
    expect(done.body).toMatchObject({ id: run.id, progress: 100, outputs: { url: 'http://x/out.png' } });
    expect(done.body).not.toHaveProperty('rev');
    const got = await h.api().get(`/runs/${run.id}`).expect(200);
    expect(got.body).toMatchObject({ state: 'COMPLETED', progress: 100, outputs: { url: 'http://x/out.png' } });
    const events = await h.api().get(`/runs/${run.id}/events`).expect(200);
    expect(events.body.state).toBe('COMPLETED');
    expect(events.body.events.map((e: { type: string }) => e.type)).toEqual([
      'CREATED',
      'ASSIGNED',
      'STARTED',
      'PROGRESS',
      'LOG',
      'COMPLETED',
    ]);
    const after = await h.api().get(`/runs/${run.id}/events?after=4`).expect(200);
    expect(after.body.events.map((e: { index: number }) => e.index)).toEqual([5, 6]);
    const attempts = await h.api().get(`/runs/${run.id}/attempts`).expect(200);
    expect(attempts.body).toEqual([expect.objectContaining({ attempt: 1, state: 'COMPLETED', worker_id: 'w1' })]);
    // Events on a finished attempt: "run is locked", and nothing is written.
    const before = await snapshot();
    const locked = await post({ type: 'PROGRESS', msg: 50 }).expect(400);
    expect(locked.body.error).toMatchObject({ code: 'RUN_LOCKED' });
    expect(locked.body.error.message).toMatch(/run is locked/);
    await post({ type: 'LOG', msg: 'late' }).expect(400);
    expect(await snapshot()).toEqual(before);
  });

  it('refuses wrong event bodies and foreign workers', async () => {
    const run = await deployAndRun();
    await claimOne();
    const post = (body: object) => h.api().post(`/runs/${run.id}/events`).send(body);
    expect((await post({ type: 'EXPLODED' }).expect(400)).body.error.details[0].field).toBe('type');
    await post({ type: 'STARTED', payload: { worker_id: 'intruder' } }).expect(409);
    // The body is checked before the state: out of range is a 400 even where PROGRESS is a 409.
    expect((await post({ type: 'PROGRESS', msg: 140 }).expect(400)).body.error.details).toEqual([
      { field: 'msg', message: 'PROGRESS must be a number from 0 to 100' },
    ]);
    await post({ type: 'PROGRESS', msg: 10 }).expect(409); // not started yet
    await post({ type: 'STARTED', payload: { gpu_id: 'zero' } }).expect(400);
    await post({ type: 'STARTED' }).expect(200);
    await post({ type: 'PROGRESS', msg: 140 }).expect(400);
    await post({ type: 'PROGRESS', msg: { n: 1 } }).expect(400);
    await post({ type: 'LOG', attempt: 2, msg: 'from the future' }).expect(400);
    await h.api().post('/runs/run_nope/events').send({ type: 'LOG' }).expect(404);
  });

  it('cancels, retries, patches and answers conflicts', async () => {
    const run = await deployAndRun();
    const cancelled = await h.api().post(`/runs/${run.id}/cancel`).send({ reason: 'not needed' }).expect(200);
    expect(cancelled.body).toMatchObject({ state: 'CANCELLED', error_message: 'not needed' });
    expect((await h.api().post(`/runs/${run.id}/cancel`).send({}).expect(409)).body.error.code).toBe(
      'INVALID_TRANSITION',
    );
    const retried = await h.api().post(`/runs/${run.id}/retry`).expect(200);
    expect(retried.body).toMatchObject({ state: 'PENDING', current_attempt: 2 });
    await h.api().patch(`/runs/${run.id}`).send({ priority: 9 }).expect(200);
    await h.api().patch(`/runs/${run.id}`).send({ state: 'CANCELLED' }).expect(200);
    const max = await h.api().post(`/runs/${run.id}/retry`).expect(400);
    expect(max.body.error.code).toBe('MAX_ATTEMPTS_REACHED');
    await h.api().post('/runs/run_missing/retry').expect(404);
    await h.api().patch(`/runs/${run.id}`).send({ state: 'DONE' }).expect(400);
    await h
      .api()
      .patch(`/runs/${run.id}`)
      .send({ outputs: { a: 1 } })
      .expect(400);

    const other = (await h.api().post('/runs').send({ image: 'busybox' }).expect(201)).body;
    await h
      .api()
      .patch(`/runs/${other.id}`)
      .send({ state: 'COMPLETED', outputs: { a: 1 } })
      .expect(409);
    await claimOne();
    await h.api().patch(`/runs/${other.id}`).send({ state: 'RUNNING' }).expect(200);
    const completed = await h
      .api()
      .patch(`/runs/${other.id}`)
      .send({ state: 'COMPLETED', outputs: { a: 1 } })
      .expect(200);
    expect(completed.body).toMatchObject({ state: 'COMPLETED', outputs: { a: 1 } });
    await h.api().patch(`/runs/${other.id}`).send({ priority: 1 }).expect(400);

    // A finished run queued again with a new priority in one PATCH: the retry comes first.
    const failed = (
      await h
        .api()
        .post('/runs')
        .send({ image: 'busybox', retry_policy: { max_attempts: 2 } })
        .expect(201)
    ).body;
    await claimOne();
    await h.api().patch(`/runs/${failed.id}`).send({ state: 'RUNNING' }).expect(200);
    await h.api().patch(`/runs/${failed.id}`).send({ state: 'FAILED' }).expect(200);
    const requeued = await h.api().patch(`/runs/${failed.id}`).send({ state: 'PENDING', priority: 5 }).expect(200);
    expect(requeued.body).toMatchObject({ state: 'PENDING', priority: 5, current_attempt: 2 });

    // A FAILED run waiting for its automatic retry can be cancelled: the retry is not made.
    await h.api().post(`/runs/${failed.id}/cancel`).send({}).expect(200);
    const waiting = await failedWithRetryScheduled();
    const stopped = await h.api().post(`/runs/${waiting.id}/cancel`).send({ reason: 'enough' }).expect(200);
    expect(stopped.body).toMatchObject({ state: 'CANCELLED', error_message: 'enough', current_attempt: 1 });
    expect(stopped.body.not_before).toBeUndefined();
    expect(stopped.body.attempts[0].state).toBe('FAILED');
  });

  it('refuses a LOG or INFO that loses a race with the run finishing, instead of writing it after the end', async () => {
    await h.api().post('/workers/heartbeat').send(worker('w1')).expect(200);
    for (let i = 0; i < 10; i++) {
      const run = (await h.api().post('/runs').send({ image: 'busybox' }).expect(201)).body;
      await h.api().post('/workers/w1/claim').expect(200);
      await h.api().post(`/runs/${run.id}/events`).send({ type: 'STARTED' }).expect(200);
      // Over the listening server (one app, requests in flight together), not one app per request.
      const report = async (body: object) => {
        const answer = await fetch(`${h.url}/runs/${run.id}/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
          body: JSON.stringify(body),
        });
        return { status: answer.status, body: (await answer.json()) as { error: { code: string } } };
      };
      const [done, log, info] = await Promise.all([
        report({ type: 'COMPLETED' }),
        report({ type: 'LOG', msg: 'late' }),
        report({ type: 'INFO', msg: 'late' }),
      ]);
      expect(done.status).toBe(200);
      const events = (await h.api().get(`/runs/${run.id}/events`).expect(200)).body.events as { type: string }[];
      // The end is the last event; a report that came too late was refused, not written.
      expect(events.at(-1)?.type).toBe('COMPLETED');
      for (const answer of [log, info]) {
        expect([200, 400]).toContain(answer.status);
        if (answer.status === 400) expect(answer.body.error.code).toBe('RUN_LOCKED');
      }
      expect(events.filter((e) => e.type === 'LOG' || e.type === 'INFO')).toHaveLength(
        [log, info].filter((a) => a.status === 200).length,
      );
    }
  });

  it('tells a worker in its heartbeat to stop cancelled runs', async () => {
    const run = await deployAndRun();
    await claimOne();
    await h.api().post(`/runs/${run.id}/events`).send({ type: 'STARTED' }).expect(200);
    const still = await h
      .api()
      .post('/workers/heartbeat')
      .send({ ...worker(), running_ops: [run.id] })
      .expect(200);
    expect(still.body.stop_runs).toEqual([]);
    await h.api().post(`/runs/${run.id}/cancel`).send({}).expect(200);
    const seedShape = await h
      .api()
      .post('/workers/heartbeat')
      .send({ ...worker(), running_ops: [{ id: run.id, image: 'busybox', inputs: {} }, 'run_unknown'] })
      .expect(200);
    expect(seedShape.body.stop_runs).toEqual([run.id, 'run_unknown']);
    expect(seedShape.body.free.cpu_cores).toBe(4);
  });
});

describe('workers and claims', () => {
  it('lists workers with free capacity and claims by fit', async () => {
    await h
      .api()
      .post('/workers/heartbeat')
      .send(worker('g1', [{ id: 0, vram_mb: 8000 }]))
      .expect(200);
    const gpuRun = (
      await h
        .api()
        .post('/runs')
        .send({ image: 'x', constraints: { vram_mb: 6000 } })
        .expect(201)
    ).body;
    const tooBig = (
      await h
        .api()
        .post('/runs')
        .send({ image: 'x', constraints: { vram_mb: 9000 } })
        .expect(201)
    ).body;
    const claim = await h.api().post('/workers/g1/claim?limit=5').expect(200);
    expect(claim.body.ops.map((o: { id: string; gpu_ids: number[] }) => [o.id, o.gpu_ids])).toEqual([[gpuRun.id, [0]]]);
    const workers = await h.api().get('/workers').expect(200);
    expect(workers.body[0].free).toEqual({
      cpu_cores: 4,
      ram_mb: 4096,
      gpus: [{ id: 0, vram_mb: 8000, free_vram_mb: 2000, tags: [] }],
    });
    const reason = await h.api().get(`/runs/${tooBig.id}`).expect(200);
    expect(reason.body.pending_reason).toMatch(/needs 1 GPU\(s\) with 9000 MB VRAM free/);
  });

  it('long-polls until a run appears', async () => {
    await h.api().post('/workers/heartbeat').send(worker()).expect(200);
    const waiting = h.api().post('/workers/w1/claim?wait_seconds=20');
    const pending = new Promise((resolve) => waiting.then(resolve));
    await new Promise((r) => setTimeout(r, 100));
    const run = (await h.api().post('/runs').send({ image: 'x' }).expect(201)).body;
    const res = (await pending) as { status: number; body: { ops: { id: string }[] } };
    expect(res.status).toBe(200);
    expect(res.body.ops.map((o) => o.id)).toEqual([run.id]);
  });

  it('lets a long-poll whose worker hung up go: a run created after it goes to the next claimer', async () => {
    await h.api().post('/workers/heartbeat').send(worker('w1')).expect(200);
    await h.api().post('/workers/heartbeat').send(worker('w2')).expect(200);
    // The store's claims, counted once they answered: the long-poll's first look is over
    // (it found nothing) when the count moves, and it waits.
    let looked = 0;
    const claimRuns = h.store.claims.claimRuns.bind(h.store.claims);
    h.store.claims.claimRuns = async (request) => {
      const runs = await claimRuns(request);
      looked++;
      return runs;
    };
    const connections = () =>
      new Promise<number>((resolve, reject) => h.server.getConnections((e, n) => (e ? reject(e) : resolve(n))));
    const before = await connections();
    const longPoll = http.request(`${h.url}/workers/w1/claim?wait_seconds=20`, {
      method: 'POST',
      headers: { 'X-API-Key': API_KEY },
    });
    longPoll.on('error', () => {});
    longPoll.end();
    await waitFor('the first look', async () => looked > 0 || undefined, { intervalMs: 5 });
    expect(looked).toBe(1);
    longPoll.destroy();
    // The server has closed the socket (and, a tick later, the answer: the claim is let go).
    await waitFor('the socket to close', async () => (await connections()) <= before || undefined, { intervalMs: 5 });
    await new Promise((r) => setImmediate(r));
    const run = (await h.api().post('/runs').send({ image: 'x' }).expect(201)).body;
    const { body } = await h.api().post('/workers/w2/claim').expect(200);
    expect(body.ops.map((o: { id: string }) => o.id)).toEqual([run.id]);
  });

  it('refuses bad claims and heartbeats', async () => {
    await h.api().post('/workers/nobody/claim').expect(404);
    expect((await h.api().post('/workers/w1/claim?limit=0').expect(400)).body.error.details[0].field).toBe('limit');
    await h.api().post('/workers/w1/claim?wait_seconds=600').expect(400);
    const before = await snapshot();
    const bad = await h
      .api()
      .post('/workers/heartbeat')
      .send({ worker_id: 'w 1', resources: { cpu_cores: -1, ram_mb: 1, gpus: [{ id: 'a', vram_mb: 1 }] } })
      .expect(400);
    expect(new Set(bad.body.error.details.map((d: { field: string }) => d.field))).toEqual(
      new Set(['resources.cpu_cores', 'resources.gpus.0.id']),
    );
    await h
      .api()
      .post('/workers/heartbeat')
      .send({ ...worker(), worker_id: 'w 1' })
      .expect(400);
    await h
      .api()
      .post('/workers/heartbeat')
      .send({ ...worker(), running_ops: [42] })
      .expect(400);
    await h
      .api()
      .post('/workers/heartbeat')
      .send({
        ...worker(),
        resources: {
          cpu_cores: 1,
          ram_mb: 1,
          gpus: [
            { id: 0, vram_mb: 1 },
            { id: 0, vram_mb: 2 },
          ],
        },
      })
      .expect(400);
    expect(await snapshot()).toEqual(before);
  });

  it('answers 409 to an evicted worker until it heartbeats again', async () => {
    await h.api().post('/workers/heartbeat').send(worker()).expect(200);
    h.now.value = new Date(h.now.value.getTime() + 120_000);
    await h.scheduler.reap();
    expect((await h.api().post('/workers/w1/claim').expect(409)).body.error.code).toBe('WORKER_NOT_ACTIVE');
    await h.api().post('/workers/heartbeat').send(worker()).expect(200);
    await h.api().post('/workers/w1/claim').expect(200);
  });
});

describe('errors', () => {
  it('answers malformed JSON, oversize bodies and unknown routes with the error body', async () => {
    const malformed = await h
      .api()
      .post('/runs')
      .set('Content-Type', 'application/json')
      .send('{"image": ')
      .expect(400);
    expect(malformed.body.error.code).toBe('BAD_REQUEST');
    const big = await h
      .api()
      .post('/runs')
      .send({ image: 'x', inputs: { blob: 'x'.repeat(70_000) } })
      .expect(413);
    expect(big.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    const unknown = await h.api().get('/nope').expect(404);
    expect(unknown.body.error.code).toBe('NOT_FOUND');
    await h.api().get('/runs/run_missing').expect(404);
  });

  it('never answers 500 to bad input', async () => {
    const bodies: unknown[] = [null, [], 'text', 42, true, {}, { image: 7 }, { image: '' }, { image: 'x', inputs: [] }];
    bodies.push({ image: 'x', constraints: 'fast' }, { image: 'x', constraints: { gpu_tags: 'a' } });
    bodies.push({ image: 'x', priority: 1e300 }, { image: 'x', retry_policy: { max_attempts: 0 } });
    bodies.push({ image: 'x', event_delivery: { webhook_url: 'ftp://x' } }, { definition_id: 'Bad', inputs: {} });
    bodies.push({ image: 'x', constraints: { vram_mb: 10, gpu_count: 0 } }, { image: 'a b' }, { __proto__: { a: 1 } });
    const targets = ['/runs', '/definitions', '/workers/heartbeat', '/definitions/x/runs', '/runs/run_x/events'];
    for (const target of targets) {
      for (const body of bodies) {
        const res = await h.api().post(target).set('Content-Type', 'application/json').send(JSON.stringify(body));
        expect([target, JSON.stringify(body), res.status < 500]).toEqual([target, JSON.stringify(body), true]);
        expect(res.body.error?.code ?? 'ok').toBeTruthy();
      }
    }
    for (const path of [
      '/runs?limit=abc',
      '/runs?after=-1',
      '/runs/run_x/events?after=x',
      '/definitions/UPPER',
      '/workers/%20/claim',
    ]) {
      const res = await h.api().get(path);
      expect([path, res.status < 500]).toEqual([path, true]);
    }
  });
});

describe('documents and metrics', () => {
  it('describes every route in OpenAPI 3.1 and serves Swagger UI', async () => {
    const spec = (await h.api().get('/openapi.json').expect(200)).body;
    expect(spec.openapi).toBe('3.1.0');
    for (const route of ROUTES) {
      const path = route.path.replace(/:(\w+)/g, '{$1}');
      expect([path, route.method, Boolean(spec.paths[path]?.[route.method])]).toEqual([path, route.method, true]);
    }
    expect(spec.paths['/runs'].post.requestBody.content['application/json'].schema.$ref).toBe(
      '#/components/schemas/CreateRunDto',
    );
    expect(spec.components.schemas.CreateRunDto.properties.priority).toEqual({ type: 'integer' });
    const docs = await h.api().get('/docs/').expect(200);
    expect(docs.text).toContain('swagger-ui');
  });

  it('exports Prometheus metrics', async () => {
    await deployAndRun();
    await claimOne();
    const text = (await h.api().get('/metrics').expect(200)).text;
    expect(text).toContain('gyoza_runs{state="ASSIGNED"} 1');
    expect(text).toContain('gyoza_workers_active 1');
    expect(text).toContain('gyoza_claims_total{result="claimed"} 1');
    expect(text).toMatch(
      /gyoza_http_request_duration_seconds_count\{method="POST",route="\/workers\/:id\/claim",status="200"\} 1/,
    );
  });
});

describe('event stream', () => {
  function readSse(path: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
    const { port } = h.server.address() as AddressInfo;
    return new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path, headers: { 'X-API-Key': API_KEY, ...headers } }, (res) => {
        let text = '';
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
    });
  }

  it('streams events until the run finishes and resumes after Last-Event-ID', async () => {
    const run = await deployAndRun();
    await claimOne();
    const stream = readSse(`/runs/${run.id}/events/stream`);
    await new Promise((r) => setTimeout(r, 100));
    await h.api().post(`/runs/${run.id}/events`).send({ type: 'STARTED' }).expect(200);
    await h.api().post(`/runs/${run.id}/events`).send({ type: 'PROGRESS', msg: '70' }).expect(200);
    await h.api().post(`/runs/${run.id}/events`).send({ type: 'COMPLETED' }).expect(200);
    const { status, text } = await stream;
    expect(status).toBe(200);
    const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(ids).toEqual([1, 2, 3, 4, 5]);
    const progress = text.split('\n\n').find((block) => block.includes('event: PROGRESS')) as string;
    expect(JSON.parse(progress.split('data: ')[1])).toMatchObject({
      index: 4,
      attempt: 1,
      type: 'PROGRESS',
      msg: '70',
    });
    const resumed = await readSse(`/runs/${run.id}/events/stream`, { 'Last-Event-ID': '3' });
    expect([...resumed.text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]))).toEqual([4, 5]);
    const byQuery = await readSse(`/runs/${run.id}/events/stream?after=4`);
    expect([...byQuery.text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]))).toEqual([5]);
    expect((await readSse('/runs/run_missing/events/stream')).status).toBe(404);
  });

  it('stays open on a FAILED run whose retry is scheduled, until the run is final', async () => {
    const run = await failedWithRetryScheduled();
    let ended = false;
    const stream = readSse(`/runs/${run.id}/events/stream`).finally(() => {
      ended = true;
    });
    // Three polls of the stream later it is still open (it ended at FAILED before).
    await new Promise((r) => setTimeout(r, 700));
    expect(ended).toBe(false);
    await h.api().post(`/runs/${run.id}/cancel`).send({}).expect(200);
    const { text } = await stream;
    expect([...text.matchAll(/^event: (\w+)$/gm)].map((m) => m[1])).toEqual([
      'CREATED',
      'ASSIGNED',
      'STARTED',
      'FAILED',
      'CANCELLED',
    ]);
  });
});
