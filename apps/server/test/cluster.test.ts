import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, get as httpGet } from 'node:http';
import type { AddressInfo } from 'node:net';
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

  // /metrics, whichever process answers, is the cluster's: claims counted by both processes
  // summed (each answered only its own: a counter that reset at every other scrape), the
  // store's gauges taken once (not doubled).
  const scrapes = await Promise.all(Array.from({ length: 6 }, () => call('GET', '/metrics')));
  const value = (text: string, series: string) =>
    // A labelled counter not yet incremented is not in the text at all.
    Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  for (const scrape of scrapes) {
    const text = scrape.body as string;
    expect(
      value(text, 'gyoza_claims_total{result="claimed"}') + value(text, 'gyoza_claims_total{result="empty"}'),
    ).toBe(24);
    expect(value(text, 'gyoza_runs{state="ASSIGNED"}')).toBe(40);
    expect(value(text, 'gyoza_workers_active')).toBe(4);
  }

  // A process killed and forked again: scrapes go on answering while the new one starts
  // (before, the primary asked every process, the one still starting too, and every scrape
  // failed after 5 s).
  process.kill(Number([...pids][0]), 'SIGKILL');
  // A new connection each (a pooled one may be the killed process's); one the primary handed
  // to the killed process before it noticed the death is never answered: tried again.
  const scrapeOnce = () =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpGet(`${base}/metrics`, { agent: false, headers: { 'X-API-Key': KEY } }, (res) => {
        let text = '';
        res.on('data', (chunk) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.setTimeout(8000, () => req.destroy(new Error('no answer on this connection')));
      req.on('error', reject);
    });
  const scrapeAlone = async () => {
    for (let tries = 1; ; tries++) {
      try {
        return await scrapeOnce();
      } catch (error) {
        if (tries >= 4) throw error;
      }
    }
  };
  const during = await Promise.all(Array.from({ length: 3 }, scrapeAlone));
  for (const scrape of during) {
    expect(scrape.status).toBe(200);
    expect(value(scrape.text, 'gyoza_runs{state="ASSIGNED"}')).toBe(40);
  }

  expect(await server.kill('SIGTERM')).toBe(0);
}, 90_000);

it.each([
  ['1', 'port in use', 'GYOZA_PORT'],
  ['2', 'port in use', 'GYOZA_PORT'],
  ['2', 'unknown host', 'GYOZA_HOST'],
])(
  'with GYOZA_WORKERS=%s and a %s, stops start-up with exit 2 and one line naming %s',
  async (workers, what, variable) => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as AddressInfo;
    const host = what === 'unknown host' ? 'no-such-host.invalid' : '127.0.0.1';
    try {
      const child = spawn(process.execPath, [main], {
        env: {
          PATH: process.env.PATH,
          GYOZA_API_KEY: KEY,
          GYOZA_DATABASE_URL: `sqlite:${dir.dir}/bad-listen-${workers}-${variable}.db`,
          GYOZA_LOG_LEVEL: 'warn',
          GYOZA_WORKERS: workers,
          GYOZA_HOST: host,
          GYOZA_PORT: String(port),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      let stdout = '';
      child.stderr.on('data', (chunk) => {
        stderr += chunk;
      });
      child.stdout.on('data', (chunk) => {
        stdout += chunk;
      });
      // Before: with two processes, children were forked again and again and start-up never ended.
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(code).toBe(2);
      const lines = stderr.split('\n').filter((line) => line.startsWith('gyoza: '));
      expect(lines.length).toBeGreaterThanOrEqual(1);
      expect(lines[0]).toMatch(new RegExp(`^gyoza: ${variable}: `));
      expect(stderr).not.toMatch(/\n\s+at /);
      expect(stdout).not.toContain('starting another');
    } finally {
      blocker.close();
    }
  },
);
