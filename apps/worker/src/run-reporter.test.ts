import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type GyozaApiError, GyozaClient } from '@gyoza/client';
import { waitFor } from '@gyoza/test-support';
import { API_KEY, type Harness, startHarness } from '@gyoza/test-support/api-harness';
import pino from 'pino';
import { eventsOf as allEvents, logLines } from '../test/agents';
import { RunReporter } from './run-reporter';

// The reporter against a real server, through a proxy that can play a server outage or answer
// one request the way a busy server does; no container runs here.
let harness: Harness;
let proxy: ServerProxy;
let client: GyozaClient;

/** Forwards to the server; while `down`, drops every connection; `answerNext` answers one events request itself. */
class ServerProxy {
  down = false;
  readonly url: string;
  /** The size in bytes of every events request forwarded. */
  readonly eventBodies: number[] = [];
  private next?: { when: (body: string) => boolean; answer: (body: string) => { status: number; json: unknown } };

  private constructor(
    private readonly server: Server,
    target: string,
  ) {
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const upstream = new URL(target);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        if (this.down) return void req.socket.destroy();
        const body = Buffer.concat(chunks);
        const next = this.next;
        if (next && req.url?.endsWith('/events') && next.when(body.toString())) {
          this.next = undefined;
          const { status, json } = next.answer(body.toString());
          res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
          return;
        }
        if (req.url?.endsWith('/events')) this.eventBodies.push(body.length);
        const forward = request(
          { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        forward.on('error', () => req.socket.destroy());
        forward.end(body);
      });
    });
  }

  static async open(target: string): Promise<ServerProxy> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new ServerProxy(server, target);
  }

  /** The next events request whose body `when` accepts is answered `answer(body)`, not forwarded. */
  answerNext(when: (body: string) => boolean, answer: (body: string) => { status: number; json: unknown }): void {
    this.next = { when, answer };
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

beforeAll(async () => {
  harness = await startHarness({ manualClock: false });
  proxy = await ServerProxy.open(harness.url);
  client = new GyozaClient({ baseUrl: harness.url, apiKey: API_KEY, retries: 0 });
});

afterEach(() => {
  proxy.down = false;
});

afterAll(async () => {
  await proxy.close();
  await harness.close();
});

/**
 * A run claimed by `workerId`, and a reporter for its attempt (through the proxy) whose log
 * records are kept in `logged` and whose refusals in `refusals`.
 */
async function claimedRun(workerId: string, maxAttempts = 1) {
  await client.heartbeat({ worker_id: workerId, resources: { cpu_cores: 4, ram_mb: 4096, gpus: [] }, running_ops: [] });
  const run = await client.createRun({
    image: 'gyoza-busybox:latest',
    constraints: { cpu_cores: 1, ram_mb: 64 },
    retry_policy: { max_attempts: maxAttempts, backoff_seconds: 0 },
  });
  const [op] = await client.claim(workerId, { limit: 1 });
  if (op?.id !== run.id) throw new Error(`${workerId} did not claim ${run.id}`);
  const logged: Array<{ msg: string; [key: string]: unknown }> = [];
  const refusals: GyozaApiError[] = [];
  const reporter = new RunReporter({
    client: new GyozaClient({ baseUrl: proxy.url, apiKey: API_KEY, retries: 0 }),
    runId: run.id,
    attempt: op.attempt,
    assignmentId: op.assignment_id,
    workerId,
    logBatchMs: 20,
    logger: pino({ level: 'info' }, { write: (line: string) => void logged.push(JSON.parse(line)) }),
    onRefused: (error) => refusals.push(error),
  });
  reporter.send({ type: 'STARTED', payload: { worker_id: workerId } });
  await reporter.drain();
  return { run, reporter, logged, refusals };
}

const eventsOf = (runId: string) => allEvents(client, runId);

it('drops a LOG event the server refuses (half a surrogate pair) and still reports the outcome', async () => {
  const { run, reporter, logged, refusals } = await claimedRun('w-rep-log');
  reporter.line('a fine line');
  await reporter.drain();
  reporter.line('half a pair \ud800 here');
  await reporter.drain();
  reporter.send({ type: 'COMPLETED', payload: { outputs: { answer: 42 } } });
  await reporter.drain();
  expect(refusals).toEqual([]);
  expect(reporter.refused).toBe(false);
  expect(await client.getRun(run.id)).toMatchObject({ state: 'COMPLETED', outputs: { answer: 42 } });
  const events = await eventsOf(run.id);
  expect(logLines(events)).toEqual(['a fine line']);
  expect(logged.some((r) => r.msg === 'the server refused a report; dropped' && r.type === 'LOG')).toBe(true);
});

it('reports outputs the server refuses (more than 10,000 keys) as FAILED with its reason, not retried', async () => {
  const { run, reporter, refusals } = await claimedRun('w-rep-outputs', 3);
  const outputs = Object.fromEntries(Array.from({ length: 12_001 }, (_, i) => [`k${i}`, i]));
  reporter.send({ type: 'COMPLETED', payload: { outputs } });
  await reporter.drain();
  expect(refusals).toEqual([]);
  const failed = await client.getRun(run.id);
  expect(failed).toMatchObject({ state: 'FAILED', current_attempt: 1 });
  expect(failed.error_message).toMatch(/^the server refused the outputs: .*10000/);
  expect(failed.not_before).toBeUndefined(); // not retried: the same op would write the same outputs
  expect((await eventsOf(run.id)).filter((e) => e.type === 'FAILED')[0]?.payload).toMatchObject({ retryable: false });
});

it.each([
  [409, 'CONCURRENT_MODIFICATION'],
  [429, 'RATE_LIMITED'],
  [503, 'STORE_UNAVAILABLE'],
])('retries an outcome the server answers %i %s, and never gives the attempt up', async (status, code) => {
  const { run, reporter, refusals } = await claimedRun(`w-rep-${status}`);
  let answered = false;
  proxy.answerNext(
    (body) => body.includes('"COMPLETED"'),
    (body) => {
      answered = true;
      const events = (JSON.parse(body) as { events: Array<{ run_id: string }> }).events;
      const error = { code, message: `${code} (played by the test proxy)` };
      // As the server answers: per event in a batch answer, for the whole request otherwise.
      return status === 409
        ? { status: 200, json: { results: events.map((e) => ({ run_id: e.run_id, status, error })) } }
        : { status, json: { error } };
    },
  );
  reporter.send({ type: 'COMPLETED', payload: { outputs: { n: 1 } } });
  await reporter.drain();
  expect(answered).toBe(true);
  expect(refusals).toEqual([]);
  expect(await client.getRun(run.id)).toMatchObject({ state: 'COMPLETED', current_attempt: 1 });
});

it.each([
  [401, 'UNAUTHORIZED'],
  [403, 'FORBIDDEN'],
])('gives the attempt up on %i %s, as on any 4xx that neither passes nor is about content', async (status, code) => {
  const { reporter, refusals } = await claimedRun(`w-rep-${status}`);
  proxy.answerNext(
    (body) => body.includes('"PROGRESS"'),
    () => ({ status, json: { error: { code, message: `${code} (played by the test proxy)` } } }),
  );
  reporter.send({ type: 'PROGRESS', msg: 10 });
  // Before: retried forever, drain() never resolved and the container kept running.
  await reporter.drain();
  expect(refusals.map((e) => e.status)).toEqual([status]);
  expect(reporter.refused).toBe(true);
});

it('sends a batch the server finds too large one event a request, and delivers it all', async () => {
  const { run, reporter, refusals } = await claimedRun('w-rep-413');
  proxy.answerNext(
    (body) => (JSON.parse(body) as { events: unknown[] }).events.length > 1,
    () => ({ status: 413, json: { error: { code: 'PAYLOAD_TOO_LARGE', message: 'request body too large' } } }),
  );
  for (let i = 0; i < 30; i++) {
    reporter.line(`line ${i}`);
    reporter.send({ type: 'PROGRESS', msg: i });
  }
  reporter.send({ type: 'COMPLETED', payload: {} });
  await reporter.drain();
  expect(refusals).toEqual([]);
  expect(await client.getRun(run.id)).toMatchObject({ state: 'COMPLETED' });
  expect(logLines(await eventsOf(run.id))).toEqual(Array.from({ length: 30 }, (_, i) => `line ${i}`));
});

it('cuts a long line and posts lines as LOG events the server takes, one request well under its body limit', async () => {
  const { run, reporter, refusals } = await claimedRun('w-rep-long');
  const from = proxy.eventBodies.length;
  const long = `${'x'.repeat(1_200_000)}\u{1F600}`;
  reporter.line(long);
  const kilobyte = 'k'.repeat(1024);
  for (let i = 0; i < 2000; i++) reporter.line(`${i} ${kilobyte}`);
  reporter.send({ type: 'COMPLETED', payload: {} });
  await reporter.drain();
  expect(refusals).toEqual([]);
  expect(await client.getRun(run.id)).toMatchObject({ state: 'COMPLETED' });
  const events = await eventsOf(run.id);
  const lines = logLines(events);
  expect(lines).toHaveLength(2001);
  expect(lines[0]).toMatch(/^x{16000,} \[gyoza\] … \d+ characters cut$/);
  expect(lines[0]?.length).toBeLessThanOrEqual(16 * 1024);
  for (const e of events.filter((x) => x.type === 'LOG')) expect(String(e.msg).length).toBeLessThanOrEqual(65_536);
  expect(Math.max(...proxy.eventBodies.slice(from))).toBeLessThanOrEqual(600 * 1024);
});

it('keeps only the latest PROGRESS while the server is down, and every log line', async () => {
  const { run, reporter, logged } = await claimedRun('w-rep-flood');
  proxy.down = true;
  reporter.send({ type: 'PROGRESS', msg: 1 });
  await waitFor(
    'a failed report',
    async () => logged.some((r) => r.msg === 'cannot report an event; retrying') || undefined,
  );
  for (let i = 0; i < 6000; i++) {
    reporter.send({ type: 'PROGRESS', msg: i % 100 });
    if (i % 4 === 0) reporter.line(`line ${i / 4}`);
  }
  reporter.send({ type: 'PROGRESS', msg: 77 });
  proxy.down = false;
  reporter.send({ type: 'COMPLETED', payload: {} });
  await reporter.drain();
  const events = await eventsOf(run.id);
  const progress = events.filter((e) => e.type === 'PROGRESS');
  // One may have been on its way when the server went down; the rest were replaced by the last.
  expect(progress.length).toBeLessThanOrEqual(2);
  expect(progress.at(-1)?.msg).toBe('77');
  expect(logLines(events)).toEqual(Array.from({ length: 1500 }, (_, i) => `line ${i}`));
  expect((await client.getRun(run.id)).state).toBe('COMPLETED');
});

it('says why log lines were dropped when the queue filled while the server was down', async () => {
  const { run, reporter, logged } = await claimedRun('w-rep-dropped');
  proxy.down = true;
  reporter.line('first');
  await waitFor(
    'a failed report',
    async () => logged.some((r) => r.msg === 'cannot report an event; retrying') || undefined,
  );
  for (let i = 0; i < 100_500; i++) reporter.line(`${i}`);
  proxy.down = false;
  reporter.send({ type: 'COMPLETED', payload: {} });
  await reporter.drain();
  const notices = logLines(await eventsOf(run.id)).filter((line) => line.startsWith('[gyoza]'));
  expect(notices).toHaveLength(1);
  expect(notices[0]).toMatch(
    /^\[gyoza\] \d+ log lines dropped: the server could not be reached and the unsent lines filled the queue$/,
  );
}, 60_000);
