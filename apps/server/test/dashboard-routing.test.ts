// The dashboard's front app and the API behind it: which one answers which path.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type RunningServer, start } from '@gyoza/server';
import { type TemporaryDirectory, temporaryDirectory } from '@gyoza/test-support';
import express from 'express';
import { withDashboard } from '../src/dashboard';

let tmp: TemporaryDirectory;
let server: RunningServer;
beforeAll(async () => {
  tmp = temporaryDirectory('gyoza-dashboard-routing-');
  server = await start({
    port: 0,
    logLevel: 'silent',
    databaseUrl: `sqlite:${join(tmp.dir, 'gyoza.db')}`,
    apiKey: 'routing-key-0123456789',
    env: {},
  });
});
afterAll(async () => {
  await server.close();
  tmp.remove();
});

const errorCode = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

const get = (path: string, init: RequestInit = {}) => fetch(`${server.url}${path}`, { redirect: 'manual', ...init });

it('redirects / to the dashboard and serves it at /ui, whatever the case of the path', async () => {
  for (const path of ['/', '/?x=1']) {
    const res = await get(path);
    expect([path, res.status, res.headers.get('location')]).toEqual([path, 302, '/ui/']);
  }
  const ui = await get('/ui/');
  expect([200, 503]).toContain(ui.status);
  for (const path of ['/UI/', '/ui/runs/run_x', '/Ui/runs?state=PENDING']) {
    const res = await get(path);
    expect([path, res.status, res.headers.get('content-type')]).toEqual([
      path,
      ui.status,
      ui.headers.get('content-type'),
    ]);
  }
  // The dashboard's own headers (its CSP allows inline styles), not the API's.
  expect(ui.headers.get('content-security-policy')).toContain("'unsafe-inline'");
});

it('hands every other path to the API, with its error body and headers', async () => {
  const health = await get('/health');
  expect(health.status).toBe(200);
  expect(health.headers.get('cache-control')).toBe('no-store');
  const post = await get('/', { method: 'POST', headers: { 'x-api-key': 'routing-key-0123456789' } });
  expect(post.status).toBe(404);
  expect(await errorCode(post)).toBe('NOT_FOUND');
  for (const path of ['/uix', '/runs/ui', '/u']) {
    const res = await get(path, { headers: { 'x-api-key': 'routing-key-0123456789' } });
    expect([path, res.status, await errorCode(res)]).toEqual([path, 404, 'NOT_FOUND']);
  }
  const runs = await get('/runs', { headers: { 'x-api-key': 'routing-key-0123456789' } });
  expect(runs.status).toBe(200);
  expect(runs.headers.get('x-request-id')).toMatch(/^\d+-\d+$/);
});

it('answers 404 for a bundle the build lacks (an old tab after an upgrade), not index.html', async () => {
  const dist = join(tmp.dir, 'dist');
  mkdirSync(join(dist, 'assets'), { recursive: true });
  writeFileSync(join(dist, 'index.html'), '<!doctype html><div id="root"></div>');
  writeFileSync(join(dist, 'assets', 'workers-N3wHash1.js'), 'export const x = 1;');
  const front = createServer(withDashboard(express(), { directory: dist }));
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
  try {
    const there = await fetch(`${base}/ui/assets/workers-N3wHash1.js`);
    expect([there.status, there.headers.get('content-type')]).toEqual([200, expect.stringContaining('javascript')]);
    for (const path of ['/ui/assets/workers-0ldHash0.js', '/UI/Assets/workers-0ldHash0.js', '/ui/assets/']) {
      const gone = await fetch(`${base}${path}`);
      expect([path, gone.status, gone.headers.get('content-type')]).toEqual([
        path,
        404,
        expect.stringContaining('text/plain'),
      ]);
      expect(gone.headers.get('cache-control')).toBe('no-store');
    }
    // The app's own routes still get index.html.
    const route = await fetch(`${base}/ui/runs/run_x`);
    expect([route.status, route.headers.get('content-type')]).toEqual([200, expect.stringContaining('text/html')]);
  } finally {
    await new Promise((resolve) => front.close(resolve));
  }
});
