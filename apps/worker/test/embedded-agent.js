// An agent embedded in a process of its own, stopped on SIGTERM as the README shows: the
// process must exit once stop() resolves, whether or not the server is still there.
const { GyozaClient } = require('@gyoza/client');
const pino = require('pino');
const { startWorker } = require('../dist/index.js');

(async () => {
  const worker = await startWorker({
    id: process.env.WORKER_ID,
    client: new GyozaClient({ baseUrl: process.env.GYOZA_URL, apiKey: process.env.GYOZA_API_KEY, retries: 0 }),
    resources: { cpu_cores: 2, ram_mb: 2048, gpus: [] },
    networkMode: 'none',
    heartbeatIntervalMs: 300,
    claimWaitSeconds: 1,
    reportTimeoutMs: 500,
    logger: pino({ level: 'silent' }),
  });
  process.once('SIGTERM', () => void worker.stop(200));
})();
