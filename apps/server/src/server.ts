import { spawn } from 'node:child_process';
import cluster from 'node:cluster';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from '@gyoza/api';
import { Scheduler, strategyByName } from '@gyoza/scheduler';
import pino, { type Logger } from 'pino';
import { ensureApiKey } from './api-key';
import { type ConfigOverrides, loadConfig, type ServerConfig } from './config';
import { dataDirectory, openStore, parseDatabaseUrl } from './store-url';

export interface StartOptions extends ConfigOverrides {
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
}

export interface RunningServer {
  url: string;
  apiKey: string;
  /** Stops accepting, lets requests finish (long-polls answer at once), closes the store. */
  close(): Promise<void>;
}

const SHUTDOWN_GRACE_MS = 5000;

/**
 * Starts gyoza: one process, or with `workers` > 1 a node:cluster of that many sharing the
 * port and the database, or with `reload` a child restarted on code changes.
 */
export async function start(options: StartOptions = {}): Promise<RunningServer> {
  const { env = process.env, logger: given, ...overrides } = options;
  const config = loadConfig(overrides, env);
  const logger = given ?? pino({ level: config.logLevel, base: { pid: process.pid } });
  if (config.reload && env.GYOZA_RELOAD_CHILD !== '1') return startReloading(config, logger);
  if (config.workers > 1 && cluster.isPrimary) return startCluster(config, logger);
  return serve(config, logger);
}

async function serve(config: ServerConfig, logger: Logger): Promise<RunningServer> {
  const location = parseDatabaseUrl(config.databaseUrl);
  const apiKey = config.apiKey ?? resolveKey(dataDirectory(location), logger);
  const store = await openStore(location);
  const scheduler = new Scheduler({
    store,
    strategy: strategyByName(config.strategy),
    logger,
    workerTimeoutSeconds: config.workerTimeoutSeconds,
  });
  scheduler.start();
  const app = createApp({ store, scheduler, apiKey, logger, bodyLimit: config.bodyLimitBytes });
  const server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const url = urlOf(server, config.host);
  logger.info({ url, store: store.kind, strategy: config.strategy }, 'gyoza server listening');
  let closing: Promise<void> | undefined;
  return {
    url,
    apiKey,
    close: () => {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        await scheduler.stop();
        server.closeIdleConnections();
        const grace = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
        await closed;
        clearTimeout(grace);
        await store.close();
        logger.info('gyoza server stopped');
      })();
      return closing;
    },
  };
}

function resolveKey(dataDir: string, logger: Logger): string {
  const { key, path, created } = ensureApiKey(dataDir);
  logger.info({ path }, created ? 'generated an API key (set GYOZA_API_KEY to choose one)' : 'using the API key file');
  return key;
}

function urlOf(server: Server, host: string): string {
  const { port } = server.address() as AddressInfo;
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `http://${shown}:${port}`;
}

/** The primary resolves the key once, so every worker process accepts the same one. */
async function startCluster(config: ServerConfig, logger: Logger): Promise<RunningServer> {
  const location = parseDatabaseUrl(config.databaseUrl);
  const apiKey = config.apiKey ?? resolveKey(dataDirectory(location), logger);
  const env = {
    GYOZA_API_KEY: apiKey,
    GYOZA_HOST: config.host,
    GYOZA_PORT: String(config.port),
    GYOZA_DATABASE_URL: config.databaseUrl,
    GYOZA_LOG_LEVEL: config.logLevel,
    GYOZA_SCHEDULER_STRATEGY: config.strategy,
    GYOZA_WORKER_TIMEOUT_SECONDS: String(config.workerTimeoutSeconds),
    GYOZA_BODY_LIMIT_BYTES: String(config.bodyLimitBytes),
    GYOZA_RELOAD: 'false',
  };
  let stopping = false;
  const fork = () => cluster.fork({ ...env, GYOZA_CLUSTER_WORKER: '1' });
  const listening = Promise.all(
    Array.from(
      { length: config.workers },
      () => new Promise<void>((resolve) => fork().once('listening', () => resolve())),
    ),
  );
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    logger.warn({ worker: worker.process.pid, code, signal }, 'server process died; starting another');
    fork();
  });
  await listening;
  const url = `http://${config.host}:${config.port}`;
  logger.info({ url, processes: config.workers }, 'gyoza server cluster listening');
  return {
    url,
    apiKey,
    async close() {
      stopping = true;
      const workers = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
      await Promise.all(
        workers.map(
          (w) =>
            new Promise<void>((resolve) => {
              if (w.isDead()) return resolve();
              w.once('exit', () => resolve());
              w.process.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}

/** Development: a child server under `node --watch`, restarted when its code changes. */
async function startReloading(config: ServerConfig, logger: Logger): Promise<RunningServer> {
  const child = spawn(process.execPath, ['--watch', ...process.execArgv, ...process.argv.slice(1)], {
    env: { ...process.env, GYOZA_RELOAD_CHILD: '1' },
    stdio: 'inherit',
  });
  logger.info({ pid: child.pid }, 'reload: serving from a child restarted on code changes');
  return {
    url: `http://${config.host}:${config.port}`,
    apiKey: config.apiKey ?? '',
    async close() {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Closes the server on SIGTERM / SIGINT, then exits. */
export function closeOnSignals(server: RunningServer, logger?: Logger): void {
  let once = false;
  const stop = (signal: NodeJS.Signals) => {
    if (once) return;
    once = true;
    logger?.info({ signal }, 'shutting down');
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger?.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
