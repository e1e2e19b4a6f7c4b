import { join } from 'node:path';
import { signWebhook } from '@gyoza/domain';
import {
  apiRequest,
  type ServerProcess,
  startServerProcess,
  startWebhookReceiver,
  type TemporaryDirectory,
  temporaryDirectory,
  type WebhookReceiver,
  waitFor,
} from '@gyoza/test-support';

const main = join(__dirname, '..', 'dist', 'main.js');
const KEY = 'webhook-test-key';
const SECRET = 'a plain shared secret';

let dir: TemporaryDirectory;
let receiver: WebhookReceiver;
const servers: ServerProcess[] = [];

async function startServer(): Promise<ServerProcess> {
  const server = await startServerProcess({
    main,
    apiKey: KEY,
    databasePath: `${dir.dir}/gyoza.db`,
    env: {
      GYOZA_WEBHOOK_ALLOW_NETWORKS: '127.0.0.0/8',
      GYOZA_WEBHOOK_TIMEOUT_SECONDS: '1',
      GYOZA_WEBHOOK_RETRY_BASE_SECONDS: '1',
      GYOZA_WEBHOOK_MAX_ATTEMPTS: '2',
    },
  });
  servers.push(server);
  return server;
}

const call = (base: string, method: string, path: string, body?: unknown) => apiRequest(base, KEY, method, path, body);

async function createRuns(base: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const created = await call(base, 'POST', '/runs', {
      image: 'busybox',
      event_delivery: { webhook_url: receiver.url, event_types: ['CREATED'], secret: SECRET },
    });
    expect(created.status).toBe(201);
    ids.push(created.body.id);
  }
  return ids;
}

const receivedIds = () => receiver.received.map((w) => w.headers['webhook-id'] as string);

beforeEach(async () => {
  dir = temporaryDirectory('gyoza-webhooks-');
  receiver = await startWebhookReceiver();
});

afterEach(async () => {
  for (const server of servers.splice(0)) await server.kill('SIGKILL');
  await receiver.close();
  dir.remove();
});

it('two server processes on one database deliver each event once, signed', async () => {
  const [a, b] = [await startServer(), await startServer()];
  const runs = [...(await createRuns(a.base, 15)), ...(await createRuns(b.base, 15))];
  await waitFor('every webhook', async () => (receiver.received.length >= runs.length ? true : undefined));
  await waitFor('every delivery recorded', async () => {
    const { body } = await call(a.base, 'GET', '/deliveries?status=pending,failing');
    return body.length === 0 ? true : undefined;
  });
  expect(receivedIds().sort()).toEqual(runs.map((id) => `${id}-1`).sort());
  // A plain (not whsec_) secret is the HMAC key as its UTF-8 bytes.
  for (const { headers, body } of receiver.received) {
    const id = headers['webhook-id'] as string;
    expect(headers['webhook-signature']).toBe(signWebhook(SECRET, id, Number(headers['webhook-timestamp']), body));
    expect(JSON.parse(body).data.event.type).toBe('CREATED');
  }
});

it('delivers every pending event after its server was killed with SIGKILL mid-delivery', async () => {
  const first = await startServer();
  // The receiver holds the first requests open, so deliveries are in flight at the kill.
  receiver.answer = (_w, i) => (i < 5 ? 'hang' : 204);
  const runs = await createRuns(first.base, 10);
  await waitFor('requests in flight', async () => (receiver.received.length >= 1 ? true : undefined));
  await first.kill('SIGKILL');
  const second = await startServer();
  await waitFor(
    'every delivery delivered',
    async () => {
      const lists = await Promise.all(runs.map((id) => call(second.base, 'GET', `/runs/${id}/deliveries`)));
      return lists.every((l) => l.body[0]?.status === 'delivered') ? true : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
  // At least once: none lost (the attempts cut by the kill may arrive twice).
  expect(new Set(receivedIds())).toEqual(new Set(runs.map((id) => `${id}-1`)));
});

it('lists dead deliveries, never shows the secret, and redelivers through the API', async () => {
  const { base } = await startServer();
  receiver.answer = () => 410;
  const [run] = await createRuns(base, 1);
  const id = `${run}-1`;
  await waitFor('a dead delivery', async () => {
    const { body } = await call(base, 'GET', '/deliveries?status=dead');
    return body.length === 1 ? body : undefined;
  });
  const dead = await call(base, 'GET', '/deliveries?status=dead');
  expect(dead.body[0]).toMatchObject({ id, run_id: run, status: 'dead', attempts: 1, last_status_code: 410 });
  expect(JSON.stringify(dead.body)).not.toContain(SECRET);
  receiver.answer = () => 204;
  const again = await call(base, 'POST', `/deliveries/${id}/redeliver`);
  expect(again.body).toMatchObject({ id, status: 'pending', attempts: 0 });
  await waitFor('the redelivery', async () => {
    const { body } = await call(base, 'GET', `/runs/${run}/deliveries`);
    return body[0].status === 'delivered' ? true : undefined;
  });
  expect(receivedIds()).toEqual([id, id]);
  expect((await call(base, 'POST', `/deliveries/${run}-9/redeliver`)).status).toBe(404);
  expect((await call(base, 'GET', '/deliveries?status=lost')).status).toBe(400);
  const metrics = await call(base, 'GET', '/metrics');
  expect(metrics.body).toMatch(/gyoza_webhook_deliveries\{status="delivered"\} 1/);
  expect(metrics.body).toMatch(/gyoza_webhook_attempts_total\{result="dead"\} 1/);
});
