import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, requireBuilt, type TemporaryDirectory, temporaryDirectory, waitFor } from '@gyoza/test-support';

const main = join(__dirname, '..', 'dist', 'main.js');
const KEY = 'cluster-test-key';

let dir: TemporaryDirectory;
let proc: ChildProcess;
let base: string;

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'X-API-Key': KEY, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  // biome-ignore lint/suspicious/noExplicitAny: the tests read whatever the server answered
  const json: any = await res.json();
  return { status: res.status, pid: (res.headers.get('x-request-id') ?? '').split('-')[0], body: json };
}

beforeAll(async () => {
  requireBuilt(main);
  dir = temporaryDirectory('gyoza-cluster-');
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  proc = spawn(process.execPath, [main], {
    env: {
      ...process.env,
      GYOZA_WORKERS: '2',
      GYOZA_PORT: String(port),
      GYOZA_API_KEY: KEY,
      GYOZA_DATABASE_URL: `sqlite:${dir.dir}/gyoza.db`,
      GYOZA_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  await waitFor('the server to answer /health', () =>
    fetch(`${base}/health`).then(
      (r) => r.ok || undefined,
      () => undefined,
    ),
  );
});

afterAll(() => {
  if (proc.exitCode === null) proc.kill('SIGKILL');
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

  const exit = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  proc.kill('SIGTERM');
  expect(await exit).toBe(0);
});
