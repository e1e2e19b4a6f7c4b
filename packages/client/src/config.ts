import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { GyozaConfigError } from './errors';

export const DEFAULT_SERVER_URL = 'http://127.0.0.1:5555';

/**
 * Where a local server keeps the key it generated when `GYOZA_API_KEY` was unset: the
 * directory of its default database, `./.gyoza`.
 */
export const LOCAL_API_KEY_FILE = '.gyoza/api-key';

export interface GyozaClientOptions {
  /**
   * The server's URL.
   * @defaultValue `GYOZA_SERVER_URL`, else `DEFAULT_SERVER_URL` (http://127.0.0.1:5555)
   */
  baseUrl?: string;
  /**
   * The key sent as `X-API-Key`.
   * @defaultValue `GYOZA_API_KEY`, else the key file a local server wrote (`readLocalApiKey`)
   */
  apiKey?: string;
  /**
   * Per-request timeout in ms; long-poll claims add their wait.
   * @defaultValue 30000
   */
  timeoutMs?: number;
  /**
   * Extra tries for retryable calls; 0 turns retries off.
   * @defaultValue 2
   */
  retries?: number;
  /**
   * First backoff delay in ms, doubled per try, capped at 5 s.
   * @defaultValue 200
   */
  retryDelayMs?: number;
  /**
   * Paths searched for the local key file (after `GYOZA_API_KEY_FILE` and the SQLite data
   * directory), relative to the working directory.
   * @defaultValue `[LOCAL_API_KEY_FILE]` (`.gyoza/api-key`)
   */
  apiKeyFiles?: string[];
  /**
   * Environment to read from.
   * @defaultValue `process.env`
   */
  env?: NodeJS.ProcessEnv;
}

export interface ResolvedConfig {
  baseUrl: string;
  apiKey?: string;
  timeoutMs: number;
  retries: number;
  retryDelayMs: number;
}

/**
 * Reads the key a local server wrote; undefined when there is none. Looks at
 * `GYOZA_API_KEY_FILE`, then beside the SQLite file of `GYOZA_DATABASE_URL` (the server's
 * data directory), then `files`.
 */
export function readLocalApiKey(files: string[] = [LOCAL_API_KEY_FILE], env = process.env): string | undefined {
  const candidates: string[] = [];
  if (env.GYOZA_API_KEY_FILE) candidates.push(env.GYOZA_API_KEY_FILE);
  const db = env.GYOZA_DATABASE_URL;
  if (db?.startsWith('sqlite:')) {
    const path = db.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (path && path !== ':memory:') candidates.push(join(dirname(path), 'api-key'));
  }
  candidates.push(...files);
  for (const file of candidates) {
    try {
      const key = readFileSync(resolve(file), 'utf8').trim();
      if (key) return key;
    } catch {
      // Missing or unreadable: try the next place.
    }
  }
  return undefined;
}

export function resolveConfig(options: GyozaClientOptions = {}): ResolvedConfig {
  const env = options.env ?? process.env;
  const baseUrl = (options.baseUrl || env.GYOZA_SERVER_URL || DEFAULT_SERVER_URL).replace(/\/+$/, '');
  if (!isHttpUrl(baseUrl)) {
    throw new GyozaConfigError(
      `the server URL must be an http:// or https:// URL, e.g. ${DEFAULT_SERVER_URL} (got ${baseUrl})`,
    );
  }
  const apiKey = options.apiKey || env.GYOZA_API_KEY || readLocalApiKey(options.apiKeyFiles, env);
  const config: ResolvedConfig = {
    baseUrl,
    timeoutMs: options.timeoutMs ?? 30_000,
    retries: Math.max(0, options.retries ?? 2),
    retryDelayMs: options.retryDelayMs ?? 200,
  };
  if (apiKey) config.apiKey = apiKey;
  return config;
}

function isHttpUrl(text: string): boolean {
  try {
    const { protocol } = new URL(text);
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}
