import { join } from 'node:path';
import type { Store } from '@gyoza/store';
import { openSqliteStore } from '@gyoza/store-sqlite';
import { temporaryDirectory } from './databases';

/** Time that moves only when a test says so: `now` goes to `clock` options, `advance` moves it. */
export class ManualClock {
  private current: Date;

  constructor(private readonly start: number) {
    this.current = new Date(start);
  }

  /** The time now (bound, so it can be passed as a `clock`). */
  readonly now = (): Date => this.current;

  advance(seconds: number): void {
    this.current = new Date(this.current.getTime() + seconds * 1000);
  }

  /** Back to the start, for the next test. */
  reset(): void {
    this.current = new Date(this.start);
  }
}

export interface TemporarySqliteStore {
  store: Store;
  /** Closes the store and removes its directory. */
  close(): Promise<void>;
}

/** A SQLite store on a fresh file in its own temporary directory. */
export async function openTemporarySqliteStore(prefix: string): Promise<TemporarySqliteStore> {
  const dir = temporaryDirectory(prefix);
  const store = await openSqliteStore({ path: join(dir.dir, 'gyoza.db') });
  return {
    store,
    async close() {
      await store.close();
      dir.remove();
    },
  };
}
