import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const API_KEY_FILE = 'api-key';

/** The key file of a local server, for the CLI and clients on the same machine. */
export function readLocalApiKey(dataDir = resolve('.gyoza')): string | undefined {
  try {
    return readFileSync(join(dataDir, API_KEY_FILE), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The key in the data directory, made on first start (mode 0600). `wx` makes concurrent
 * first starts agree: one writes, the others read what it wrote.
 */
export function ensureApiKey(dataDir: string): { key: string; path: string; created: boolean } {
  const path = join(dataDir, API_KEY_FILE);
  const existing = readLocalApiKey(dataDir);
  if (existing) return { key: existing, path, created: false };
  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(24).toString('base64url');
  try {
    writeFileSync(path, `${key}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return { key: readLocalApiKey(dataDir) as string, path, created: false };
  }
  chmodSync(path, 0o600);
  return { key, path, created: true };
}
