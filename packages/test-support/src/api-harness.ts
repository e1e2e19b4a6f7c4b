import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createApp } from '@gyoza/api';
import { Scheduler, type SchedulerOptions } from '@gyoza/scheduler';
import type { Store } from '@gyoza/store';
import { openSqliteStore } from '@gyoza/store-sqlite';
import request from 'supertest';
import { temporaryDirectory } from './databases';

export const API_KEY = 'test-key-0123456789';

export interface HarnessOptions {
  /** @defaultValue API_KEY */
  apiKey?: string;
  /** The app's JSON body limit. @defaultValue the app's own default */
  bodyLimit?: string;
  /** Scheduler options over the harness's (`pollIntervalMs: 20`). @defaultValue {} */
  scheduler?: Partial<Omit<SchedulerOptions, 'store' | 'clock'>>;
  /** Starts the scheduler's loops (the reaper). @defaultValue false */
  startScheduler?: boolean;
  /** Drive time by hand through `now` instead of the wall clock. @defaultValue true */
  manualClock?: boolean;
}

export interface Harness {
  store: Store;
  scheduler: Scheduler;
  server: Server;
  /** The fresh directory holding the SQLite file; the test may put its own files there. */
  dir: string;
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** supertest agent bound to the listening server, with the API key set. */
  api: () => request.Agent;
  /** The time the app and scheduler see, when `manualClock` is on. */
  now: { value: Date };
  close(): Promise<void>;
}

/** A real app and scheduler on a real SQLite file in a fresh directory, listening on a loopback port. */
export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const { apiKey = API_KEY, manualClock = true } = options;
  const directory = temporaryDirectory('gyoza-api-');
  const store = await openSqliteStore({ path: join(directory.dir, 'gyoza.db') });
  const now = { value: new Date('2026-03-01T00:00:00.000Z') };
  const clock = manualClock ? () => now.value : undefined;
  const scheduler = new Scheduler({ store, clock, pollIntervalMs: 20, ...options.scheduler });
  if (options.startScheduler) scheduler.start();
  const app = createApp({ store, scheduler, apiKey, clock, bodyLimit: options.bodyLimit });
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    store,
    scheduler,
    server,
    dir: directory.dir,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    now,
    api: () => request.agent(server).set('X-API-Key', apiKey),
    async close() {
      await scheduler.stop();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await store.close();
      directory.remove();
    },
  };
}
