import { spawn } from 'node:child_process';
import cluster from 'node:cluster';
import { createServer, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiMetrics, createApp } from '@gyoza/api';
import { type RunnableChange, Scheduler, strategyByName } from '@gyoza/scheduler';
import pino, { type Logger } from 'pino';
import { ensureApiKey } from './api-key';
import { ClusterMetrics, clusterMetricsInChild } from './cluster-metrics';
import { ConfigError, type ConfigOverrides, loadConfig, type ServerConfig, settingsEnvironment } from './config';
import { withDashboard } from './dashboard';
import { startDeliveryLoop } from './delivery-loop';
import { dataDirectory, openStore, parseDatabaseUrl } from './store-url';

export interface StartOptions extends ConfigOverrides {
  /**
   * Where `GYOZA_*` settings are read.
   * @defaultValue process.env
   */
  env?: NodeJS.ProcessEnv;
  /**
   * @defaultValue a pino logger at the configured level
   */
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
 * How often Node looks for requests past their headers/request timeout (its default, 30 s,
 * would let a half-sent request hold a connection for the timeout plus up to 30 s).
 */
const TIMEOUT_CHECK_INTERVAL_MS = 1000;

/** The marker of a cluster child (set by the primary in the child's environment). */
const CLUSTER_CHILD = 'GYOZA_CLUSTER_WORKER';

/** A cluster child asks for the key, the primary answers over the cluster's IPC channel. */
const KEY_REQUEST = 'gyoza:api-key?';
const KEY_ANSWER = 'gyoza:api-key';
/**
 * A cluster child created or freed something: the primary relays it to the other children,
 * whose waiting long-polls look again at once (the store's version poll stays the fallback).
 */
const RUNNABLE = 'gyoza:runnable';

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
  if (!(cluster.isWorker && env[CLUSTER_CHILD] === '1')) return serve(config, logger, false);
  // The primary gone (it stopped start-up: another process could not listen), the channel to
  // it breaks on this child's next message, a listen's included: that ends this child, quietly
  // (its channel closed, node:cluster exits it), not with an unhandled EPIPE and a stack.
  cluster.worker?.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'ERR_IPC_CHANNEL_CLOSED') throw error;
    if (process.connected) process.disconnect();
  });
  // A child that cannot start leaves the cluster, so that it ends once its caller has said
  // why: the IPC channel would keep it alive (the CLI only sets an exit code), and the
  // primary, waiting for it to exit, would wait forever.
  return serve(config, logger, true).catch((error: unknown) => {
    cluster.worker?.disconnect();
    throw error;
  });
}

async function serve(config: ServerConfig, logger: Logger, clusterChild: boolean): Promise<RunningServer> {
  const location = parseDatabaseUrl(config.databaseUrl);
  const apiKey = config.apiKey ?? (clusterChild ? await keyFromPrimary() : resolveKey(dataDirectory(location), logger));
  const store = await openStore(location);
  const scheduler = new Scheduler({
    store,
    strategy: strategyByName(config.strategy),
    logger,
    workerTimeoutSeconds: config.workerTimeoutSeconds,
    imageLocalityWaitSeconds: config.imageLocalityWaitSeconds,
    announce: clusterChild ? (change) => sendToPrimary({ type: RUNNABLE, change }) : undefined,
  });
  const onPeerMessage = (message: { type?: unknown; change?: unknown } | null) => {
    if (message?.type === RUNNABLE) scheduler.wakeFromPeer(peerChange(message.change));
  };
  if (clusterChild) process.on('message', onPeerMessage);
  scheduler.start();
  const metrics = new ApiMetrics(store);
  if (clusterChild) {
    // GET /metrics answers the whole cluster's, gathered by the primary (cluster-metrics.ts).
    metrics.cluster = clusterMetricsInChild(metrics.registry, sendToPrimary);
  }
  const deliveries = startDeliveryLoop(config, store, logger, metrics);
  const shutdown = new AbortController();
  const app = createApp({
    store,
    scheduler,
    apiKey,
    logger,
    bodyLimit: config.bodyLimitBytes,
    trustProxy: config.trustProxy ? config.trustProxy.split(',') : undefined,
    metrics,
    shutdown: shutdown.signal,
  });
  // Timeouts bound how long a client may take to *send* its request (a half-sent one is
  // answered 408 and dropped); answers, event streams and long-polls are not limited by them.
  const server = createServer(
    {
      headersTimeout: config.headersTimeoutSeconds * 1000,
      requestTimeout: config.requestTimeoutSeconds * 1000,
      connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
    },
    closingAnswers(withDashboard(app, { logger }), shutdown.signal),
  );
  server.keepAliveTimeout = config.keepAliveTimeoutSeconds * 1000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve());
    });
  } catch (error) {
    await scheduler.stop();
    await deliveries.stop();
    await store.close();
    throw listenError(error, config);
  }
  const url = urlOf(server, config.host);
  logger.info({ url, store: store.kind, strategy: config.strategy }, 'gyoza server listening');
  let closing: Promise<void> | undefined;
  return {
    url,
    apiKey,
    close: () => {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        // Event streams end now, cleanly: their clients resume with Last-Event-ID elsewhere.
        shutdown.abort();
        process.off('message', onPeerMessage);
        await scheduler.stop();
        await deliveries.stop();
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

/**
 * Once the server is stopping, every answer says `Connection: close`, those of requests under
 * way at that moment too: a keep-alive client would otherwise send its next request on a
 * socket the shutdown is about to close, and could not tell whether it was applied.
 */
function closingAnswers(handler: RequestListener, stopping: AbortSignal): RequestListener {
  const open = new Set<ServerResponse>();
  stopping.addEventListener('abort', () => {
    for (const res of open) if (!res.headersSent) res.shouldKeepAlive = false;
  });
  // One listener function for every answer (no closure per request: this is the hot path).
  function forget(this: ServerResponse) {
    open.delete(this);
  }
  return (req, res) => {
    if (stopping.aborted) res.shouldKeepAlive = false;
    else {
      open.add(res);
      res.on('close', forget);
    }
    handler(req, res);
  };
}

/** Start-up stopped for a reason a server process has already written out; one line. */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

/** Why the server could not listen, as one line naming the setting to change. */
function listenError(error: unknown, config: ServerConfig): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  const where = `${config.host}:${config.port}`;
  if (code === 'EADDRINUSE') return new ConfigError('GYOZA_PORT', `${where} is in use`);
  if (code === 'EACCES') return new ConfigError('GYOZA_PORT', `not allowed to listen on ${where}`);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT') {
    return new ConfigError('GYOZA_HOST', `cannot listen on ${config.host} (${code})`);
  }
  return error;
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

/** The key, asked of the primary over the cluster's IPC channel (it is not in our environment). */
function keyFromPrimary(): Promise<string> {
  return new Promise((resolve) => {
    const onMessage = (message: unknown) => {
      const answer = message as { type?: unknown; apiKey?: unknown } | null;
      if (answer?.type !== KEY_ANSWER || typeof answer.apiKey !== 'string') return;
      process.off('message', onMessage);
      resolve(answer.apiKey);
    };
    // Listening before asking, so the answer cannot arrive unheard.
    process.on('message', onMessage);
    sendToPrimary({ type: KEY_REQUEST });
  });
}

/**
 * Sends to the primary. A primary that is gone (killed while the cluster starts) is not this
 * child's error to report: node:cluster ends a child whose channel closes, quietly, with code
 * 0. Closing the channel here, rather than leaving the EPIPE uncaught, makes sure it does.
 */
function sendToPrimary(message: object): void {
  process.send?.(message, undefined, undefined, (error: Error | null) => {
    if (error && process.connected) process.disconnect();
  });
}

/** The change a peer announced; undefined (wake every claim) when it is not one. */
function peerChange(change: unknown): RunnableChange | undefined {
  if (typeof change !== 'object' || change === null) return undefined;
  const { runs, freedOn } = change as { runs?: unknown; freedOn?: unknown };
  if (!Number.isInteger(runs) || !Array.isArray(freedOn) || !freedOn.every((id) => typeof id === 'string')) {
    return undefined;
  }
  return { runs: runs as number, freedOn };
}

/**
 * The primary resolves the key once and hands it to each child over IPC, so every process
 * accepts the same one and none has it in its environment (`/proc/<pid>/environ`). Every
 * other setting goes to the children in their environment, derived from SETTINGS.
 */
async function startCluster(config: ServerConfig, logger: Logger): Promise<RunningServer> {
  const location = parseDatabaseUrl(config.databaseUrl);
  const apiKey = config.apiKey ?? resolveKey(dataDirectory(location), logger);
  // Opened once here first, so the schema is brought up to date (and indexes made) by one
  // process: children opening it together would wait on the upgrade's write lock, and a long
  // one (a large database) outlasts their busy timeout.
  await (await openStore(location)).close();
  // Undefined entries remove the variable the child would inherit (GYOZA_API_KEY included).
  const env = { ...settingsEnvironment({ ...config, reload: false }), [CLUSTER_CHILD]: '1' };
  let stopping = false;
  const clusterMetrics = new ClusterMetrics();
  const fork = () => {
    const child = cluster.fork(env);
    clusterMetrics.add(child);
    child.on('message', (message: { type?: unknown } | null) => {
      if (clusterMetrics.onMessage(child, message)) return;
      if (message?.type === KEY_REQUEST) child.send({ type: KEY_ANSWER, apiKey });
      else if (message?.type === RUNNABLE) {
        for (const other of Object.values(cluster.workers ?? {})) {
          if (other && other !== child && other.isConnected()) other.send(message);
        }
      }
    });
    return child;
  };
  // A process that dies before the cluster listens stops start-up (its own error, one line,
  // is on stderr already); one that dies later is replaced, after a pause that doubles while
  // they keep dying (a database gone away), so a crash loop does not spin.
  let started = false;
  let failStart: (error: Error) => void = () => {};
  const failed = new Promise<never>((_, reject) => {
    failStart = reject;
  });
  const listening = Promise.all(
    Array.from(
      { length: config.workers },
      () => new Promise<void>((resolve) => fork().once('listening', () => resolve())),
    ),
  );
  let pauseMs = 0;
  let lastDeath = 0;
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    if (!started) {
      stopping = true;
      for (const other of Object.values(cluster.workers ?? {})) other?.process.kill('SIGTERM');
      failStart(new StartupError(`a server process exited before listening (${signal ?? `code ${code}`})`));
      return;
    }
    const now = Date.now();
    pauseMs = now - lastDeath < 60_000 ? Math.min(Math.max(pauseMs * 2, 250), 30_000) : 0;
    lastDeath = now;
    logger.warn(
      { worker: worker.process.pid, code, signal, pause_ms: pauseMs },
      'server process died; starting another',
    );
    setTimeout(() => {
      if (!stopping) fork();
    }, pauseMs).unref();
  });
  await Promise.race([listening, failed]);
  started = true;
  const url = `http://${config.host}:${config.port}`;
  logger.info({ url, processes: config.workers }, 'gyoza server cluster listening');
  return {
    url,
    apiKey,
    async close() {
      stopping = true;
      await stopClusterChildren();
    },
  };
}

/** SIGTERM to each child this process forked (none unless it is a cluster's primary), until all have exited. */
export async function stopClusterChildren(): Promise<void> {
  if (!cluster.isPrimary) return;
  const children = Object.values(cluster.workers ?? {}).filter((child) => child !== undefined);
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.isDead()) return resolve();
          child.once('exit', () => resolve());
          child.process.kill('SIGTERM');
        }),
    ),
  );
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
