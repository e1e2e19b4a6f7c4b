// The webhook rows of `pnpm bench`: delivery throughput of one DeliveryLoop (16 at a time)
// against a bare POST loop (16 at a time, the same body) to the same receiver on 127.0.0.1,
// measured in the same run; and event -> receiver latency with the loop's default polling.
const http = require('node:http');
const { performance } = require('node:perf_hooks');
const { createRun } = require('../packages/domain');
const { DeliveryLoop } = require('../packages/scheduler');

const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};

function startReceiver(onRequest) {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      onRequest(req);
      res.writeHead(204).end();
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function post(port, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/hook',
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        res.resume();
        res.on('end', resolve);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function benchWebhooks(store, n) {
  let received = 0;
  const arrivals = new Map();
  const server = await startReceiver((req) => {
    received++;
    arrivals.set(req.headers['webhook-id'], performance.now());
  });
  const { port } = server.address();
  const url = `http://127.0.0.1:${port}/hook`;
  const hooked = (i) =>
    createRun(
      {
        image: 'busybox',
        inputs: { i },
        event_delivery: {
          webhook_url: url,
          event_types: ['CREATED'],
          secret: 'whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0',
        },
      },
      null,
      new Date(),
    );

  // Baseline: the same number of bare POSTs, 16 at a time.
  const body = JSON.stringify({ type: 'run.created', data: { run_id: 'run_x', i: 0 } });
  let sent = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (sent < n) {
        sent++;
        await post(port, body);
      }
    }),
  );
  const baselinePerSecond = n / ((performance.now() - t0) / 1000);

  // Throughput: n deliveries already in the outbox, one loop drains them.
  for (let i = 0; i < n; i++) {
    const t = hooked(i);
    await store.runs.createRun(t, t.run.created_at);
  }
  received = 0;
  const loop = new DeliveryLoop({ store, allowNetworks: ['127.0.0.0/8'], pollIntervalMs: 20 });
  const t1 = performance.now();
  loop.start();
  while (received < n) await new Promise((r) => setTimeout(r, 5));
  const perSecond = n / ((performance.now() - t1) / 1000);
  await loop.stop();

  // Latency: one event at a time, the loop polling at its default interval (500 ms), as in the server.
  const latencies = [];
  const polled = new DeliveryLoop({ store, allowNetworks: ['127.0.0.0/8'] });
  polled.start();
  for (let i = 0; i < 30; i++) {
    const t = hooked(n + i);
    const start = performance.now();
    await store.runs.createRun(t, t.run.created_at);
    const id = `${t.run.id}-1`;
    while (!arrivals.has(id)) await new Promise((r) => setTimeout(r, 1));
    latencies.push(arrivals.get(id) - start);
  }
  await polled.stop();
  await new Promise((resolve) => server.close(resolve));
  return { baselinePerSecond, perSecond, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

module.exports = { benchWebhooks };
