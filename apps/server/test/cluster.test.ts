import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  apiRequest,
  type ServerProcess,
  startServerProcess,
  type TemporaryDirectory,
  temporaryDirectory,
} from '@gyoza/test-support';

const main = join(__dirname, '..', 'dist', 'main.js');
const KEY = 'cluster-test-key';

let dir: TemporaryDirectory;
let server: ServerProcess;
let base: string;

async function call(method: string, path: string, body?: unknown) {
  const answer = await apiRequest(base, KEY, method, path, body);
  return { ...answer, pid: (answer.headers.get('x-request-id') ?? '').split('-')[0] };
}

beforeAll(async () => {
  dir = temporaryDirectory('gyoza-cluster-');
  server = await startServerProcess({
    main,
    apiKey: KEY,
    databasePath: `${dir.dir}/gyoza.db`,
    env: { GYOZA_WORKERS: '2' },
  });
  base = server.base;
});

afterAll(async () => {
  await server?.kill('SIGKILL');
  dir.remove();
});

it('serves one pool from two processes on one database, keeps the key out of their environment, and stops cleanly on SIGTERM', async () => {
  const created = await Promise.all(Array.from({ length: 40 }, () => call('POST', '/runs', { image: 'busybox' })));
  expect(created.every((r) => r.status === 201)).toBe(true);
  const pids = new Set(created.map((r) => r.pid));
  expect(pids.size).toBe(2);
  // The children got the key over the cluster's IPC channel, not in their environment.
  for (const pid of pids) {
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    expect(environ).toContain(`GYOZA_PORT=${new URL(base).port}`);
    expect(environ.filter((entry) => entry.startsWith('GYOZA_API_KEY=') || entry.includes(KEY))).toEqual([]);
  }

  const workers = ['wa', 'wb', 'wc', 'wd'];
  for (const id of workers) {
    const hb = await call('POST', '/workers/heartbeat', { worker_id: id, resources: { cpu_cores: 64, ram_mb: 64000 } });
    expect(hb.status).toBe(200);
  }
  const claims = await Promise.all(
    Array.from({ length: 24 }, (_, i) => call('POST', `/workers/${workers[i % 4]}/claim?limit=3`)),
  );
  const ids = claims.flatMap((c) => c.body.ops.map((o: { id: string }) => o.id));
  expect(ids).toHaveLength(40);
  expect(new Set(ids).size).toBe(40);
  expect(new Set(claims.map((c) => c.pid)).size).toBe(2);

  expect(await server.kill('SIGTERM')).toBe(0);
});
