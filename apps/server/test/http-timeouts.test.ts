// A client that sends half a request is answered 408 and dropped within seconds (Node's
// defaults held such a connection 60-90 s); answers that take long (long-polls, event
// streams) are not cut. Real sockets against a real server on loopback.

import { Agent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { type RunningServer, start } from '@gyoza/server';
import { startWebhookReceiver, type TemporaryDirectory, temporaryDirectory, waitFor } from '@gyoza/test-support';

let tmp: TemporaryDirectory;
const servers: RunningServer[] = [];

async function serve(env: NodeJS.ProcessEnv = {}): Promise<RunningServer> {
  const server = await start({
    port: 0,
    logLevel: 'silent',
    databaseUrl: `sqlite:${join(tmp.dir, `${servers.length}.db`)}`,
    apiKey: 'timeouts-test-key',
    env,
  });
  servers.push(server);
  return server;
}

/** Sends `text` and keeps the socket open; resolves when the server closes it, with what it answered. */
function sendAndWaitForClose(url: string, text: string): Promise<{ answer: string; afterMs: number }> {
  const { hostname, port } = new URL(url);
  const began = performance.now();
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(text));
    let answer = '';
    socket.on('data', (chunk) => {
      answer += chunk;
    });
    socket.on('error', reject);
    socket.on('close', () => resolve({ answer, afterMs: performance.now() - began }));
  });
}

beforeAll(() => {
  tmp = temporaryDirectory('gyoza-timeouts-');
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  tmp.remove();
});

it('drops a request whose headers never end within the headers timeout (default 10 s)', async () => {
  const [byDefault, configured] = await Promise.all([
    serve(),
    serve({ GYOZA_HEADERS_TIMEOUT_SECONDS: '2', GYOZA_REQUEST_TIMEOUT_SECONDS: '3' }),
  ]);
  const half = 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ';
  const [a, b] = await Promise.all([
    sendAndWaitForClose(byDefault.url, half),
    sendAndWaitForClose(configured.url, half),
  ]);
  expect(a.answer).toMatch(/^HTTP\/1\.1 408 /);
  expect(b.answer).toMatch(/^HTTP\/1\.1 408 /);
  // The timeout plus Node's check interval (1 s) plus slack for a loaded machine.
  expect(a.afterMs).toBeGreaterThanOrEqual(9_000);
  expect(a.afterMs).toBeLessThan(25_000);
  expect(b.afterMs).toBeGreaterThanOrEqual(1_500);
  expect(b.afterMs).toBeLessThan(10_000);
}, 40_000);

it('drops a request whose body never ends within the request timeout', async () => {
  const server = await serve({ GYOZA_HEADERS_TIMEOUT_SECONDS: '2', GYOZA_REQUEST_TIMEOUT_SECONDS: '3' });
  const { answer, afterMs } = await sendAndWaitForClose(
    server.url,
    'POST /runs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: timeouts-test-key\r\n' +
      'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"image":',
  );
  expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  expect(afterMs).toBeGreaterThanOrEqual(2_500);
  expect(afterMs).toBeLessThan(15_000);
}, 30_000);

it('lets a long-poll and an event stream outlive the request timeout', async () => {
  const server = await serve({ GYOZA_HEADERS_TIMEOUT_SECONDS: '1', GYOZA_REQUEST_TIMEOUT_SECONDS: '1' });
  const call = (method: string, path: string, body?: unknown) =>
    fetch(`${server.url}${path}`, {
      method,
      headers: { 'X-API-Key': 'timeouts-test-key', 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const heartbeat = await call('POST', '/workers/heartbeat', {
    worker_id: 'w1',
    resources: { cpu_cores: 1, ram_mb: 512 },
  });
  expect(heartbeat.status).toBe(200);
  // A run that needs more CPU than the worker has: it stays PENDING, the claim stays empty.
  const created = await call('POST', '/runs', { image: 'busybox', constraints: { cpu_cores: 64, ram_mb: 256 } });
  const run = (await created.json()) as { id: string };

  // A claim that waits 4 s for work that never fits: answered, empty, after the wait.
  const began = performance.now();
  const claim = await call('POST', '/workers/w1/claim?wait_seconds=4');
  expect(claim.status).toBe(200);
  expect(await claim.json()).toEqual({ ops: [] });
  expect(performance.now() - began).toBeGreaterThanOrEqual(3_500);

  // An event stream still delivers after the timeout and the check interval have passed.
  const stream = await call('GET', `/runs/${run.id}/events/stream`);
  expect(stream.status).toBe(200);
  const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = '';
  const readUntil = async (word: string) => {
    while (!text.includes(word)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`stream ended before ${word}: ${text}`);
      text += decoder.decode(value);
    }
  };
  await readUntil('event: CREATED');
  const streamOpened = performance.now();
  // Held open past the request timeout (1 s) and two checks (1 s each), then a new event.
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  expect(performance.now() - streamOpened).toBeGreaterThanOrEqual(2_900);
  expect((await call('POST', `/runs/${run.id}/cancel`)).status).toBe(200);
  await readUntil('event: CANCELLED');
}, 40_000);

it('ends open event streams cleanly when it shuts down, rather than cutting them after the grace', async () => {
  const server = await serve();
  const call = (method: string, path: string, body?: unknown) =>
    fetch(`${server.url}${path}`, {
      method,
      headers: { 'X-API-Key': 'timeouts-test-key', 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const run = (await (await call('POST', '/runs', { image: 'busybox' })).json()) as { id: string };
  const stream = await call('GET', `/runs/${run.id}/events/stream`);
  const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
  let text = '';
  while (!text.includes('event: CREATED')) text += new TextDecoder().decode((await reader.read()).value);
  const closing = server.close();
  // Before: the stream stayed open until the 5 s grace destroyed its socket (a read error here).
  for (;;) {
    const { done } = await reader.read();
    if (done) break;
  }
  await closing;
});

it('stops within seconds with a webhook hanging, answering what is under way with Connection: close', async () => {
  const receiver = await startWebhookReceiver();
  receiver.answer = () => 'hang';
  try {
    const server = await serve({ GYOZA_WEBHOOK_TIMEOUT_SECONDS: '120', GYOZA_WEBHOOK_ALLOW_NETWORKS: '127.0.0.0/8' });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const call = (method: string, path: string, body?: unknown) =>
      new Promise<{ status: number; connection?: string; text: string }>((resolve, reject) => {
        const req = httpRequest(
          `${server.url}${path}`,
          { method, agent, headers: { 'X-API-Key': 'timeouts-test-key', 'Content-Type': 'application/json' } },
          (res) => {
            let text = '';
            res.on('data', (chunk) => {
              text += chunk;
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, text }));
          },
        );
        req.on('error', reject);
        req.end(body === undefined ? undefined : JSON.stringify(body));
      });
    await call('POST', '/workers/heartbeat', { worker_id: 'w1', resources: { cpu_cores: 1, ram_mb: 100 } });
    const hooked = { image: 'busybox', event_delivery: { webhook_url: receiver.url, event_types: ['CREATED'] } };
    expect((await call('POST', '/runs', { ...hooked, constraints: { cpu_cores: 64 } })).status).toBe(201);
    await waitFor('the hanging webhook', async () => (receiver.received.length > 0 ? true : undefined));
    // A long-poll under way when the shutdown begins: answered, and told the socket closes.
    // (One that arrives after the shutdown began is answered the same way.)
    const polling = call('POST', '/workers/w1/claim?wait_seconds=30');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const began = performance.now();
    await Promise.all([server.close(), polling.then((answer) => expect(answer.connection).toBe('close'))]);
    // Before: the shutdown waited for the webhook's 120 s timeout.
    expect(performance.now() - began).toBeLessThan(15_000);
    agent.destroy();
  } finally {
    await receiver.close();
  }
}, 60_000);
