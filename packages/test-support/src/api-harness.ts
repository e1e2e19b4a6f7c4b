import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Scheduler } from '@gyoza/scheduler';
import type { Store } from '@gyoza/store';
import { openSqliteStore } from '@gyoza/store-sqlite';
import request from 'supertest';
import { createApp } from '../index';

export const API_KEY = 'test-key-0123456789';

export interface Harness {
  store: Store;
  scheduler: Scheduler;
  server: Server;
  /** supertest agent bound to the listening server, with the API key set. */
  api: () => request.Agent;
  now: { value: Date };
  close(): Promise<void>;
}

/** A real app on a real SQLite file, listening on a loopback port. */
export async function startHarness(options: { bodyLimit?: string } = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'gyoza-api-'));
  const store = await openSqliteStore({ path: join(dir, 'gyoza.db') });
  const now = { value: new Date('2026-03-01T00:00:00.000Z') };
  const clock = () => now.value;
  const scheduler = new Scheduler({ store, clock, pollIntervalMs: 20 });
  const app = createApp({ store, scheduler, apiKey: API_KEY, clock, bodyLimit: options.bodyLimit });
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    store,
    scheduler,
    server,
    now,
    api: () => request.agent(server).set('X-API-Key', API_KEY),
    async close() {
      await scheduler.stop();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
