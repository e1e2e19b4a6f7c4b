import { closeSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Store } from '@gyoza/store';
import { ensureDataDirectory } from './api-key';
import { ConfigError } from './settings';

export type StoreLocation = { kind: 'sqlite'; path: string } | { kind: 'mongo'; uri: string };

/** `sqlite:<path>` (relative to the working directory) or `mongodb://…` / `mongodb+srv://…`. */
export function parseDatabaseUrl(url: string): StoreLocation {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (path === '')
      throw new ConfigError('GYOZA_DATABASE_URL', 'sqlite: needs a file path, e.g. sqlite:./.gyoza/gyoza.db');
    if (path === ':memory:') {
      // Would be a file named ":memory:" here; an in-memory database would lose every run at a
      // restart and not be shared by the cluster's processes.
      throw new ConfigError(
        'GYOZA_DATABASE_URL',
        'sqlite::memory: is not supported: the server needs a file, e.g. sqlite:./.gyoza/gyoza.db',
      );
    }
    return { kind: 'sqlite', path: resolve(path) };
  }
  if (/^mongodb(\+srv)?:\/\//.test(url)) return { kind: 'mongo', uri: url };
  throw new ConfigError('GYOZA_DATABASE_URL', `must start with sqlite: or mongodb://, got '${url}'`);
}

/** Where the server keeps its own files (the generated API key). */
export function dataDirectory(location: StoreLocation): string {
  return location.kind === 'sqlite' ? dirname(location.path) : resolve('.gyoza');
}

/**
 * Creates the SQLite file private (0600, in a 0700 directory) before better-sqlite3 opens it.
 * SQLite gives its -wal and -shm files the database file's mode, so they are private too.
 * Existing files keep their mode.
 */
function createPrivateFile(path: string): void {
  ensureDataDirectory(dirname(path));
  closeSync(openSync(path, 'a', 0o600));
}

export async function openStore(location: StoreLocation): Promise<Store> {
  try {
    // Each adapter is loaded only when used: mongoose alone adds about 25 MB to a SQLite server.
    if (location.kind === 'mongo') {
      const { openMongoStore } = await import('@gyoza/store-mongo');
      return await openMongoStore({ uri: location.uri });
    }
    createPrivateFile(location.path);
    const { openSqliteStore } = await import('@gyoza/store-sqlite');
    return await openSqliteStore({ path: location.path });
  } catch (error) {
    const message = (error as Error).message.split('\n')[0];
    // The mongo adapter's open error already names the database (password masked).
    if (location.kind === 'mongo') throw new ConfigError('GYOZA_DATABASE_URL', message);
    throw new ConfigError('GYOZA_DATABASE_URL', `cannot open ${location.path}: ${message}`);
  }
}
