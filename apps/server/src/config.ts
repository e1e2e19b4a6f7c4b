import { strategyByName } from '@gyoza/scheduler';

/** A setting that stops start-up; the message is one line naming the variable. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

export interface ServerConfig {
  host: string;
  port: number;
  reload: boolean;
  workers: number;
  logLevel: string;
  /** Undefined: made on first start and kept in the data directory. */
  apiKey?: string;
  databaseUrl: string;
  strategy: string;
  workerTimeoutSeconds: number;
  bodyLimitBytes: number;
}

/** Explicit values (CLI flags, `start()` arguments); undefined means "not given". */
export type ConfigOverrides = Partial<ServerConfig>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export const DEFAULT_DATABASE_URL = 'sqlite:./.gyoza/gyoza.db';

function integer(variable: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(variable, `must be an integer from ${min} to ${max}, got '${raw}'`);
  }
  return n;
}

function boolean(variable: string, raw: string): boolean {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
  throw new ConfigError(variable, `must be true or false, got '${raw}'`);
}

/**
 * The server's settings: explicit value > `GYOZA_*` environment > default (the seed's
 * precedence). Every value is checked here, so a bad one stops start-up with one line.
 */
export function loadConfig(overrides: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const pick = <T>(key: keyof ServerConfig, variable: string, parse: (raw: string) => T, fallback: T): T => {
    const explicit = overrides[key];
    if (explicit !== undefined) return parse(String(explicit));
    const raw = env[variable];
    return raw === undefined || raw === '' ? fallback : parse(raw);
  };
  const config: ServerConfig = {
    host: pick('host', 'GYOZA_HOST', (v) => v, '127.0.0.1'),
    port: pick('port', 'GYOZA_PORT', (v) => integer('GYOZA_PORT', v, 0, 65535), 5555),
    reload: pick('reload', 'GYOZA_RELOAD', (v) => boolean('GYOZA_RELOAD', v), false),
    workers: pick('workers', 'GYOZA_WORKERS', (v) => integer('GYOZA_WORKERS', v, 1, 64), 1),
    logLevel: pick('logLevel', 'GYOZA_LOG_LEVEL', (v) => v.toLowerCase(), 'info'),
    apiKey: pick<string | undefined>('apiKey', 'GYOZA_API_KEY', (v) => v, undefined),
    databaseUrl: pick('databaseUrl', 'GYOZA_DATABASE_URL', (v) => v, DEFAULT_DATABASE_URL),
    strategy: pick('strategy', 'GYOZA_SCHEDULER_STRATEGY', (v) => v, 'best-fit'),
    workerTimeoutSeconds: pick(
      'workerTimeoutSeconds',
      'GYOZA_WORKER_TIMEOUT_SECONDS',
      (v) => integer('GYOZA_WORKER_TIMEOUT_SECONDS', v, 1, 86_400),
      60,
    ),
    bodyLimitBytes: pick(
      'bodyLimitBytes',
      'GYOZA_BODY_LIMIT_BYTES',
      (v) => integer('GYOZA_BODY_LIMIT_BYTES', v, 1024, 1 << 30),
      1 << 20,
    ),
  };
  if (!LOG_LEVELS.includes(config.logLevel)) {
    throw new ConfigError('GYOZA_LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}, got '${config.logLevel}'`);
  }
  if (config.apiKey !== undefined && config.apiKey.length < 8) {
    throw new ConfigError('GYOZA_API_KEY', 'must be at least 8 characters');
  }
  try {
    strategyByName(config.strategy);
  } catch {
    throw new ConfigError('GYOZA_SCHEDULER_STRATEGY', `must be direct or best-fit, got '${config.strategy}'`);
  }
  if (config.host.trim() === '') throw new ConfigError('GYOZA_HOST', 'must not be empty');
  return config;
}
