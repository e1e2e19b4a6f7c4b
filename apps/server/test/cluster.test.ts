import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const main = join(__dirname, '..', 'dist', 'main.js');
const KEY = 'cluster-test-key';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

let dir: string;
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
  if (!existsSync(main)) throw new Error('build first: pnpm build');
  dir = mkdtempSync(join(tmpdir(), 'gyoza-cluster-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  proc = spawn(process.execPath, [main], {
    env: {
      ...process.env,
      GYOZA_WORKERS: '2',
      GYOZA_PORT: String(port),
      GYOZA_API_KEY: KEY,
      GYOZA_DATABASE_URL: `sqlite:${dir}/gyoza.db`,
      GYOZA_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`${base}/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('server did not start');
});

afterAll(() => {
  if (proc.exitCode === null) proc.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

it('serves one pool from two processes on one database, and stops cleanly on SIGTERM', async () => {
  const created = await Promise.all(Array.from({ length: 40 }, () => call('POST', '/runs', { image: 'busybox' })));
  expect(created.every((r) => r.status === 201)).toBe(true);
  const pids = new Set(created.map((r) => r.pid));
  expect(pids.size).toBe(2);

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
