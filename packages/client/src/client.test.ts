// The client against a real server: the API app over a SQLite file and the scheduler,
// listening on a loopback port, sometimes behind a small proxy that breaks things on purpose.
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, createServer as createTcpServer, type Socket } from 'node:net';
import { waitFor } from '@gyoza/test-support';
import { API_KEY, type Harness, startHarness } from '@gyoza/test-support/api-harness';
import { GyozaClient } from './client';
import { GyozaAnswerError, GyozaApiError, GyozaConnectionError, GyozaWaitTimeoutError } from './errors';
import type { EventJson } from './types';

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

let gyoza: Harness;

/** What the proxy does with one request. */
type Verdict =
  | 'pass'
  /** Forward, let the server act, then cut the connection before the client sees the answer. */
  | 'drop-answer'
  /** Forward a stream, and cut it after the first SSE message. */
  | 'cut-after-first-message'
  /** Forward a stream's first SSE message, then nothing more, the connection left open. */
  | 'freeze-after-first-message'
  | { status: number; body: unknown };

interface Proxy {
  url: string;
  log: Array<{ method: string; path: string; headers: IncomingMessage['headers'] }>;
  close(): Promise<void>;
}

async function startProxy(target: string, decide: (req: IncomingMessage, n: number) => Verdict): Promise<Proxy> {
  const log: Proxy['log'] = [];
  const upstream = new URL(target);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    log.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers });
    const verdict = decide(req, log.length);
    if (typeof verdict === 'object') {
      req.resume();
      res.writeHead(verdict.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(verdict.body));
      return;
    }
    const forward = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        if (verdict === 'drop-answer') {
          answer.resume();
          answer.on('end', () => res.socket?.destroy());
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        if (verdict === 'cut-after-first-message' || verdict === 'freeze-after-first-message') {
          res.flushHeaders();
          // Forward exactly one SSE message (comments aside), then break the connection.
          let pending = '';
          let cut = false;
          answer.on('data', (chunk: Buffer) => {
            if (cut) return;
            pending += chunk.toString();
            for (let pos = 0, end = pending.indexOf('\n\n'); end !== -1; end = pending.indexOf('\n\n', pos)) {
              const block = pending.slice(pos, end);
              pos = end + 2;
              if (block.split('\n').every((line) => line.startsWith(':'))) continue;
              cut = true;
              if (verdict === 'freeze-after-first-message') {
                // Nothing more reaches the client, and nothing tells it so.
                res.write(pending.slice(0, pos));
                answer.pause();
                return;
              }
              answer.destroy();
              res.write(pending.slice(0, pos), () => res.socket?.destroy());
              return;
            }
          });
          return;
        }
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.socket?.destroy());
    req.pipe(forward);
  });
  const url = await listen(server);
  return { url, log, close: () => closeServer(server) };
}

const client = (options: ConstructorParameters<typeof GyozaClient>[0] = {}) =>
  new GyozaClient({ baseUrl: gyoza.url, apiKey: API_KEY, retryDelayMs: 10, ...options });

const hello = { id: 'hello', version: '1', image: 'busybox:1.36', input_specs: { name: { type: 'string' as const } } };

/** Plays a worker: registers, claims the run and reports it to the end. */
async function runAsWorker(api: GyozaClient, workerId: string, outcome: 'COMPLETED' | 'FAILED'): Promise<string> {
  await api.heartbeat({ worker_id: workerId, resources: { cpu_cores: 4, ram_mb: 4096, gpus: [] } });
  const [op] = await api.claim(workerId, { waitSeconds: 10 });
  if (!op) throw new Error('nothing claimed');
  await api.postEvent(op.id, { type: 'STARTED', worker_id: workerId });
  await api.postEvent(op.id, { type: 'PROGRESS', msg: 50 });
  await api.postEvent(op.id, { type: 'LOG', msg: 'half way' });
  if (outcome === 'COMPLETED') await api.postEvent(op.id, { type: 'COMPLETED', payload: { outputs: { ok: true } } });
  else await api.postEvent(op.id, { type: 'FAILED', payload: { error_message: 'boom' } });
  return op.id;
}

async function collect(events: AsyncIterable<EventJson>): Promise<EventJson[]> {
  const out: EventJson[] = [];
  for await (const event of events) out.push(event);
  return out;
}

beforeEach(async () => {
  gyoza = await startHarness({ manualClock: false, scheduler: { reaperIntervalMs: 50 } });
});

afterEach(() => gyoza.close());

describe('GyozaClient against a real server', () => {
  it('checks health without a key and refuses a wrong key with a typed error', async () => {
    expect(await client({ apiKey: 'wrong' }).health()).toMatchObject({ status: 'ok' });
    const error = await client({ apiKey: 'wrong' })
      .listDefinitions()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GyozaApiError);
    expect(error).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
  });

  it('manages definitions and reports validation errors by field', async () => {
    const api = client();
    const v1 = await api.putDefinition(hello);
    expect(v1).toMatchObject({ id: 'hello', version: '1', image: 'busybox:1.36' });
    expect(typeof v1.created_at).toBe('string');
    await api.putDefinition({ ...hello, version: '2', image: 'busybox:1.37' });
    expect((await api.getDefinition('hello')).version).toBe('2');
    expect((await api.getDefinition('hello', '1')).image).toBe('busybox:1.36');
    expect((await api.listDefinitions({ latest: true })).map((d) => d.version)).toEqual(['2']);
    expect((await api.listDefinitions()).map((d) => d.version)).toEqual(['2', '1']);
    expect((await api.listDefinitionVersions('hello')).map((d) => d.version)).toEqual(['2', '1']);
    expect(await api.deleteDefinition('hello', '2')).toEqual({ deleted: 1 });
    expect((await api.getDefinition('hello')).version).toBe('1');
    expect(await api.deleteDefinition('hello')).toEqual({ deleted: 1 });
    await expect(api.getDefinition('hello')).rejects.toMatchObject({ status: 404, code: 'NOT_FOUND' });

    const bad = await api.putDefinition({ ...hello, id: 'Bad Id' }).catch((e: unknown) => e);
    expect(bad).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
    expect((bad as GyozaApiError).details.map((d) => d.field)).toContain('id');
  });

  it('creates, lists, pages, updates, cancels and retries runs', async () => {
    const api = client();
    await api.putDefinition(hello);
    const fromDef = await api.createRunFromDefinition(
      'hello',
      { inputs: { name: 'Ada' }, priority: 3 },
      { version: '1' },
    );
    expect(fromDef).toMatchObject({ definition_id: 'hello', definition_version: '1', state: 'PENDING', priority: 3 });
    const badInputs = await api.createRunFromDefinition('hello', { inputs: {} }).catch((e: unknown) => e);
    expect(badInputs).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
    const adHoc = await api.createRun({ image: 'alpine:3', retry_policy: { max_attempts: 2 } });
    expect(adHoc).toMatchObject({ image: 'alpine:3', state: 'PENDING' });
    for (let i = 0; i < 3; i++) await api.createRun({ image: 'alpine:3' });

    expect((await api.getRun(fromDef.id)).inputs).toEqual({ name: 'Ada' });
    const page = await api.listRuns({ limit: 2 });
    expect(page.runs).toHaveLength(2);
    expect(page.next_cursor).toBeDefined();
    const all: string[] = [];
    for await (const run of api.iterateRuns({ limit: 2 })) all.push(run.id);
    expect(all).toHaveLength(5);
    expect(new Set(all).size).toBe(5);
    const byDef = await api.listRuns({ definition_id: 'hello', state: ['PENDING'] });
    expect(byDef.runs.map((r) => r.id)).toEqual([fromDef.id]);

    expect((await api.updateRun(adHoc.id, { priority: 9 })).priority).toBe(9);
    expect((await api.cancelRun(adHoc.id, 'not needed')).state).toBe('CANCELLED');
    await expect(api.cancelRun(adHoc.id)).rejects.toMatchObject({ status: 409, code: 'INVALID_TRANSITION' });
    const retried = await api.retryRun(adHoc.id);
    expect(retried).toMatchObject({ state: 'PENDING', current_attempt: 2 });
    expect((await api.listAttempts(adHoc.id)).map((a) => a.state)).toEqual(['CANCELLED', 'PENDING']);
    await api.cancelRun(adHoc.id);
    await expect(api.retryRun(adHoc.id)).rejects.toMatchObject({ status: 400, code: 'MAX_ATTEMPTS_REACHED' });
    await expect(api.getRun('run_doesnotexist')).rejects.toMatchObject({ status: 404, code: 'NOT_FOUND' });
  });

  it('serves a worker: heartbeat, long-poll claim, events, free capacity and stop_runs', async () => {
    const api = client();
    const worker = await api.heartbeat({
      worker_id: 'w1',
      resources: { cpu_cores: 8, ram_mb: 16000, gpus: [{ id: 0, vram_mb: 24000, tags: ['a100'] }] },
    });
    expect(worker).toMatchObject({ id: 'w1', stop_runs: [] });
    // The claim waits on the server until a run arrives.
    const claimed = api.claim('w1', { waitSeconds: 10 });
    const run = await api.createRun({ image: 'alpine:3', constraints: { cpu_cores: 2, vram_mb: 8000 } });
    const ops = await claimed;
    expect(ops).toEqual([expect.objectContaining({ id: run.id, attempt: 1, image: 'alpine:3', gpu_ids: [0] })]);

    const [w] = await api.listWorkers();
    expect(w?.free).toMatchObject({ cpu_cores: 6, ram_mb: 16000 });
    expect(w?.free.gpus[0]).toMatchObject({ id: 0, vram_mb: 24000, free_vram_mb: 16000 });

    const started = await api.postEvent(run.id, { type: 'STARTED', worker_id: 'w1' });
    expect(started.state).toBe('RUNNING');
    await api.postEvent(run.id, { type: 'PROGRESS', msg: 40 });
    const first = await api.listEvents(run.id);
    const after = first.events[first.events.length - 1]?.index ?? 0;
    await api.postEvent(run.id, { type: 'LOG', msg: 'hello' });
    const later = await api.listEvents(run.id, after);
    expect(later.events.map((e) => e.type)).toEqual(['LOG']);
    expect((await api.getRun(run.id)).progress).toBe(40);

    await api.cancelRun(run.id);
    const next = await api.heartbeat({
      worker_id: 'w1',
      resources: { cpu_cores: 8, ram_mb: 16000, gpus: [{ id: 0, vram_mb: 24000, tags: ['a100'] }] },
      running_ops: [run.id],
    });
    expect(next.stop_runs).toEqual([run.id]);
    await expect(api.postEvent(run.id, { type: 'LOG', msg: 'late' })).rejects.toMatchObject({
      status: 400,
      code: 'RUN_LOCKED',
    });
  });

  it('reads the OpenAPI document and the Prometheus metrics', async () => {
    const api = client();
    const doc = await api.openapi();
    expect(doc).toHaveProperty('openapi');
    expect(Object.keys(doc.paths as object)).toEqual(expect.arrayContaining(['/runs', '/workers/heartbeat']));
    expect(await api.metrics()).toMatch(/^# (HELP|TYPE) /m);
  });

  it('answers a replayed idempotency key with the same run and refuses it for another body', async () => {
    const api = client();
    const a = await api.createRun({ image: 'alpine:3' }, { idempotencyKey: 'k-1' });
    const b = await api.createRun({ image: 'alpine:3' }, { idempotencyKey: 'k-1' });
    expect(b.id).toBe(a.id);
    await expect(api.createRun({ image: 'alpine:4' }, { idempotencyKey: 'k-1' })).rejects.toMatchObject({
      status: 409,
      code: 'IDEMPOTENCY_KEY_REUSED',
    });
  });
});

describe('retries, timeouts and connection errors', () => {
  it('retries a run creation whose answer was lost, with one key, making one run', async () => {
    const proxy = await startProxy(gyoza.url, (req, n) => (n === 1 && req.method === 'POST' ? 'drop-answer' : 'pass'));
    try {
      const run = await client({ baseUrl: proxy.url }).createRun({ image: 'alpine:3' });
      const posts = proxy.log.filter((r) => r.method === 'POST');
      expect(posts).toHaveLength(2);
      const key = posts[0]?.headers['idempotency-key'];
      expect(key).toEqual(expect.any(String));
      expect(posts[1]?.headers['idempotency-key']).toBe(key);
      const runs = await client().listRuns();
      expect(runs.runs.map((r) => r.id)).toEqual([run.id]);
    } finally {
      await proxy.close();
    }
  });

  it('retries GETs on 5xx and 429 but not on 4xx, and never retries a PATCH', async () => {
    const api = client();
    const run = await api.createRun({ image: 'alpine:3' });
    const failing = (status: number, times: number) =>
      startProxy(gyoza.url, (_req, n) =>
        n <= times ? { status, body: { error: { code: 'X', message: 'x' } } } : 'pass',
      );

    let proxy = await failing(503, 2);
    expect((await client({ baseUrl: proxy.url }).getRun(run.id)).id).toBe(run.id);
    expect(proxy.log).toHaveLength(3);
    await proxy.close();

    proxy = await failing(429, 1);
    expect((await client({ baseUrl: proxy.url }).getRun(run.id)).id).toBe(run.id);
    expect(proxy.log).toHaveLength(2);
    await proxy.close();

    proxy = await failing(503, 5);
    await expect(client({ baseUrl: proxy.url, retries: 1 }).getRun(run.id)).rejects.toMatchObject({ status: 503 });
    expect(proxy.log).toHaveLength(2);
    await proxy.close();

    proxy = await failing(503, 1);
    await expect(client({ baseUrl: proxy.url }).updateRun(run.id, { priority: 1 })).rejects.toMatchObject({
      status: 503,
    });
    expect(proxy.log).toHaveLength(1);
    await proxy.close();

    proxy = await failing(400, 1);
    await expect(client({ baseUrl: proxy.url }).getRun(run.id)).rejects.toMatchObject({ status: 400, code: 'X' });
    expect(proxy.log).toHaveLength(1);
    await proxy.close();
  });

  it('takes a 404 on a retried delete as done: the first try deleted it and its answer was lost', async () => {
    const api = client();
    await api.putDefinition(hello);
    const proxy = await startProxy(gyoza.url, (req, n) =>
      n === 1 && req.method === 'DELETE' ? 'drop-answer' : 'pass',
    );
    try {
      expect(await client({ baseUrl: proxy.url }).deleteDefinition('hello')).toEqual({ deleted: null });
      expect(proxy.log.filter((r) => r.method === 'DELETE')).toHaveLength(2);
      await expect(api.getDefinition('hello')).rejects.toMatchObject({ status: 404 });
      // Answered 404 at the first try, there was nothing to delete.
      await expect(client({ baseUrl: proxy.url }).deleteDefinition('hello')).rejects.toMatchObject({
        status: 404,
        code: 'NOT_FOUND',
      });
    } finally {
      await proxy.close();
    }
  });

  it('throws a 404 on a retried delete when no earlier try can have deleted anything (429, 503)', async () => {
    for (const status of [429, 503]) {
      const proxy = await startProxy(gyoza.url, (_req, n) =>
        n === 1 ? { status, body: { error: { code: 'BUSY', message: 'busy' } } } : 'pass',
      );
      try {
        await expect(client({ baseUrl: proxy.url }).deleteDefinition('never-existed')).rejects.toMatchObject({
          status: 404,
        });
        expect(proxy.log).toHaveLength(2);
      } finally {
        await proxy.close();
      }
    }
  });

  it('refuses a success answer that is not JSON, empty or not an object with a typed error naming the URL', async () => {
    const answers = [
      { type: 'text/html', body: '<!doctype html><title>gyoza</title>' },
      { type: 'application/json', body: '' },
      { type: 'application/json', body: '"ok"' },
    ];
    let n = 0;
    const page = createServer((_req, res) => {
      const answer = answers[n++ % answers.length];
      res.writeHead(200, { 'content-type': answer?.type ?? 'text/plain' });
      res.end(answer?.body);
    });
    const base = `${await listen(page)}/ui`;
    try {
      const messages: string[] = [];
      for (let i = 0; i < answers.length; i++) {
        const error = await client({ baseUrl: base })
          .listRuns()
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(GyozaAnswerError);
        expect((error as GyozaAnswerError).url).toBe(`${base}/runs`);
        messages.push((error as Error).message);
      }
      expect(messages).toEqual([
        `unexpected answer from ${base}/runs: not JSON (text/html)`,
        `unexpected answer from ${base}/runs: an empty body where JSON was expected`,
        `unexpected answer from ${base}/runs: JSON that is neither an object nor a list`,
      ]);
    } finally {
      await closeServer(page);
    }
  });

  it('refuses a claim answer that is not a list of runs with a typed error', async () => {
    const bodies: unknown[] = [{}, { ops: 'x' }, { ops: [null] }, { ops: [{ image: 'alpine:3' }] }];
    const proxy = await startProxy(gyoza.url, (req, n) =>
      req.url?.includes('/claim') ? { status: 200, body: bodies[(n - 1) % bodies.length] } : 'pass',
    );
    try {
      for (let i = 0; i < bodies.length; i++) {
        const error = await client({ baseUrl: proxy.url })
          .claim('w1')
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(GyozaAnswerError);
        expect((error as Error).message).toBe('unexpected answer from /workers/w1/claim: no list of runs (ops)');
      }
    } finally {
      await proxy.close();
    }
  });

  it('names the URL it could not reach, and times out a silent server', async () => {
    const closed = createServer();
    const deadUrl = await listen(closed);
    await closeServer(closed);
    const error = await client({ baseUrl: deadUrl, retries: 1 })
      .getRun('run_x')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GyozaConnectionError);
    expect((error as GyozaConnectionError).url).toBe(`${deadUrl}/runs/run_x`);
    expect((error as Error).message).toContain(deadUrl);

    const silent = createServer(() => undefined);
    const silentUrl = await listen(silent);
    try {
      const timeout = await client({ baseUrl: silentUrl, timeoutMs: 200, retries: 0 })
        .health()
        .catch((e: unknown) => e);
      expect(timeout).toBeInstanceOf(GyozaConnectionError);
      expect((timeout as GyozaConnectionError).timedOut).toBe(true);
    } finally {
      await closeServer(silent);
    }
  });
});

describe('following runs', () => {
  it('follows a run over SSE until it completes', async () => {
    const proxy = await startProxy(gyoza.url, () => 'pass');
    try {
      const api = client({ baseUrl: proxy.url });
      const run = await api.createRun({ image: 'alpine:3' });
      const events = collect(api.followEvents(run.id));
      await runAsWorker(client(), 'w1', 'COMPLETED');
      const seen = await events;
      expect(seen.map((e) => e.type)).toEqual(['CREATED', 'ASSIGNED', 'STARTED', 'PROGRESS', 'LOG', 'COMPLETED']);
      expect(seen.map((e) => e.index)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(proxy.log.some((r) => r.path.startsWith(`/runs/${run.id}/events/stream`))).toBe(true);
      // At most the one catch-up read after the stream ended: no polling.
      expect(proxy.log.filter((r) => r.path.startsWith(`/runs/${run.id}/events?`)).length).toBeLessThanOrEqual(1);
    } finally {
      await proxy.close();
    }
  });

  it('reads every page of a finished run whose stream dropped, past the 1,000 events of one page', async () => {
    const api0 = client();
    const run = await api0.createRun({ image: 'alpine:3' });
    const lines = Array.from({ length: 1200 }, (_, i) => ({ attempt: 1, type: 'LOG' as const, msg: `line ${i}` }));
    await gyoza.store.runs.appendEvents(run.id, lines, new Date());
    await api0.cancelRun(run.id, 'enough');
    const proxy = await startProxy(gyoza.url, (req) =>
      req.url?.includes('/events/stream') ? 'cut-after-first-message' : 'pass',
    );
    try {
      const seen = await collect(client({ baseUrl: proxy.url }).followEvents(run.id, { pollIntervalMs: 50 }));
      expect(seen).toHaveLength(1202);
      expect(seen.map((e) => e.index)).toEqual(Array.from({ length: 1202 }, (_, i) => i + 1));
      expect(seen.at(-1)?.type).toBe('CANCELLED');
    } finally {
      await proxy.close();
    }
  });

  it('notices a stream that went silent without closing, and still ends with the run', async () => {
    const api0 = client();
    const run = await api0.createRun({ image: 'alpine:3' });
    let streams = 0;
    const proxy = await startProxy(gyoza.url, (req) => {
      if (!req.url?.includes('/events/stream')) return 'pass';
      streams++;
      return streams === 1 ? 'freeze-after-first-message' : 'pass';
    });
    try {
      const follow = client({ baseUrl: proxy.url }).followEvents(run.id, { pollIntervalMs: 50, idleTimeoutMs: 300 });
      const first = await follow.next();
      await api0.cancelRun(run.id, 'enough');
      const seen = [first.value as EventJson, ...(await collect(follow))];
      // The frozen stream never says CANCELLED: it came because the silence was noticed.
      expect(seen.map((e) => e.type)).toEqual(['CREATED', 'CANCELLED']);
    } finally {
      await proxy.close();
    }
  });

  it('resumes a dropped stream with Last-Event-ID, without repeating or losing events', async () => {
    const api0 = client();
    const run = await api0.createRun({ image: 'alpine:3' });
    await api0.heartbeat({ worker_id: 'w1', resources: { cpu_cores: 4, ram_mb: 4096, gpus: [] } });
    await api0.claim('w1');
    const proxy = await startProxy(gyoza.url, (req) =>
      req.url?.includes('/events/stream') && !/^[1-9]/.test(String(req.headers['last-event-id'] ?? ''))
        ? 'cut-after-first-message'
        : 'pass',
    );
    try {
      const api = client({ baseUrl: proxy.url });
      const follow = api.followEvents(run.id, { pollIntervalMs: 50 });
      // One event arrives before the cut; the next ones come over a second connection.
      const first = await follow.next();
      await api0.postEvent(run.id, { type: 'STARTED', worker_id: 'w1' });
      const second = await follow.next();
      await api0.postEvent(run.id, { type: 'COMPLETED', payload: { outputs: {} } });
      const seen = [first.value as EventJson, second.value as EventJson, ...(await collect(follow))];
      expect(seen.map((e) => e.type)).toEqual(['CREATED', 'ASSIGNED', 'STARTED', 'COMPLETED']);
      const streams = proxy.log.filter((r) => r.path.includes('/events/stream'));
      expect(streams.length).toBeGreaterThanOrEqual(2);
      expect(streams[1]?.headers['last-event-id']).toBe('1');
    } finally {
      await proxy.close();
    }
  });

  it('falls back to polling ?after= when the stream cannot be opened', async () => {
    const proxy = await startProxy(gyoza.url, (req) =>
      req.url?.includes('/events/stream')
        ? { status: 502, body: { error: { code: 'BAD_GATEWAY', message: 'no' } } }
        : 'pass',
    );
    try {
      const api = client({ baseUrl: proxy.url });
      const run = await api.createRun({ image: 'alpine:3' });
      const events = collect(api.followEvents(run.id, { pollIntervalMs: 20 }));
      await runAsWorker(client(), 'w1', 'FAILED');
      const seen = await events;
      expect(seen.map((e) => e.type)).toEqual(['CREATED', 'ASSIGNED', 'STARTED', 'PROGRESS', 'LOG', 'FAILED']);
      expect(proxy.log.some((r) => /\/events\?after=\d+/.test(r.path))).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  it('keeps following through an automatic retry and ends with the final attempt', async () => {
    gyoza.scheduler.start();
    const api = client();
    const run = await api.createRun({ image: 'alpine:3', retry_policy: { max_attempts: 2, backoff_seconds: 0 } });
    const events = collect(api.followEvents(run.id, { pollIntervalMs: 50 }));
    await runAsWorker(client(), 'w1', 'FAILED');
    // The scheduler's loop puts the run back to PENDING; the second attempt completes.
    await runAsWorker(client(), 'w1', 'COMPLETED');
    const seen = await events;
    expect(seen.map((e) => `${e.attempt}:${e.type}`)).toEqual([
      '1:CREATED',
      '1:ASSIGNED',
      '1:STARTED',
      '1:PROGRESS',
      '1:LOG',
      '1:FAILED',
      '2:RETRIED',
      '2:ASSIGNED',
      '2:STARTED',
      '2:PROGRESS',
      '2:LOG',
      '2:COMPLETED',
    ]);
    expect((await api.getRun(run.id)).state).toBe('COMPLETED');
  });

  it('follows and waits for a run through a server restart, and sees it complete', async () => {
    const api = client();
    const run = await api.createRun({ image: 'alpine:3' });
    await api.heartbeat({ worker_id: 'w1', resources: { cpu_cores: 4, ram_mb: 4096, gpus: [] } });
    await api.claim('w1');
    await api.postEvent(run.id, { type: 'STARTED', worker_id: 'w1' });
    // Ends both followers should the test fail: they would otherwise wait for the server forever.
    const stop = new AbortController();
    const follow = api.followEvents(run.id, { pollIntervalMs: 50, signal: stop.signal });
    const seen: EventJson[] = [];
    while (seen.at(-1)?.type !== 'STARTED') seen.push((await follow.next()).value as EventJson);
    let failure: unknown;
    const rest = collect(follow);
    const waited = api.waitForRun(run.id, { signal: stop.signal });
    rest.catch((e: unknown) => {
      failure ??= e;
    });
    waited.catch((e: unknown) => {
      failure ??= e;
    });
    try {
      // The server stops (its streams drop) and comes back on the same port and SQLite file. While
      // it is away a bare listener on its port counts the clients' tries and cuts each one, so the
      // outage lasts until well past the few retries one request gets, whatever the machine's load.
      const port = Number(new URL(gyoza.url).port);
      gyoza.server.closeAllConnections();
      await new Promise((resolve) => gyoza.server.close(resolve));
      let tries = 0;
      const away = createTcpServer((socket: Socket) => {
        tries++;
        socket.destroy();
      });
      await new Promise<void>((resolve) => away.listen(port, '127.0.0.1', resolve));
      try {
        await waitFor('20 tries while the server is away', async () =>
          tries >= 20 || failure !== undefined ? true : undefined,
        );
      } finally {
        await new Promise((resolve) => away.close(resolve));
      }
      expect(failure).toBeUndefined();
      await new Promise<void>((resolve) => gyoza.server.listen(port, '127.0.0.1', resolve));

      await api.postEvent(run.id, { type: 'COMPLETED', payload: { outputs: { ok: true } } });
      expect([...seen, ...(await rest)].map((e) => e.type)).toEqual(['CREATED', 'ASSIGNED', 'STARTED', 'COMPLETED']);
      expect(await waited).toMatchObject({ id: run.id, state: 'COMPLETED', outputs: { ok: true } });
    } finally {
      stop.abort();
    }
  }, 120_000);

  it('ends a follow at once, naming the URL, when the server has never answered', async () => {
    const closed = createServer();
    const deadUrl = await listen(closed);
    await closeServer(closed);
    const error = await collect(client({ baseUrl: deadUrl, retries: 1 }).followEvents('run_x')).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(GyozaConnectionError);
    expect((error as Error).message).toContain(deadUrl);
  });

  it('waits for a run to finish, and gives up with a typed error after its timeout', async () => {
    const api = client();
    const run = await api.createRun({ image: 'alpine:3' });
    const done = api.waitForRun(run.id);
    await runAsWorker(client(), 'w1', 'COMPLETED');
    expect(await done).toMatchObject({ id: run.id, state: 'COMPLETED', outputs: { ok: true } });

    const stuck = await api.createRun({ image: 'alpine:3' });
    const error = await api.waitForRun(stuck.id, { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GyozaWaitTimeoutError);
    expect((await api.getRun(stuck.id)).state).toBe('PENDING');
  });
});
