import { type ChildProcess, spawn } from 'node:child_process';
import { freePort, requireBuilt, waitFor } from './processes';

export interface ServerProcessOptions {
  /** The built server's entry (`apps/server/dist/main.js`): children run `dist`, as deployed. */
  main: string;
  apiKey: string;
  /** The SQLite file it serves from (created when missing). */
  databasePath: string;
  /** More settings (`GYOZA_WORKERS`, webhook settings, ...); they win over the defaults here. */
  env?: Record<string, string>;
}

export interface ServerProcess {
  child: ChildProcess;
  /** `http://127.0.0.1:<port>` */
  base: string;
  /** Its exit code once it has exited (null when killed by a signal). */
  exited: Promise<number | null>;
  /** Sends `signal` unless it has exited already; resolves with its exit code once it has. */
  kill(signal: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `node <main>` on a free loopback port over a SQLite file (its logs at `warn`, to the
 * test's own stdout and stderr) and resolves once it answers GET /health.
 */
export async function startServerProcess(options: ServerProcessOptions): Promise<ServerProcess> {
  requireBuilt(options.main);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [options.main], {
    env: {
      ...process.env,
      GYOZA_HOST: '127.0.0.1',
      GYOZA_PORT: String(port),
      GYOZA_API_KEY: options.apiKey,
      GYOZA_DATABASE_URL: `sqlite:${options.databasePath}`,
      GYOZA_LOG_LEVEL: 'warn',
      ...options.env,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  // Listened for from the start, so an exit before anyone asks is not missed.
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const kill = (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  const server: ServerProcess = { child, base, exited, kill };
  try {
    await waitFor('the server to answer /health', () =>
      fetch(`${base}/health`).then(
        (r) => r.ok || undefined,
        () => undefined,
      ),
    );
  } catch (error) {
    await kill('SIGKILL');
    throw error;
  }
  return server;
}

export interface ApiAnswer {
  status: number;
  headers: Headers;
  /** The parsed JSON when the server answered JSON, else the text. */
  // biome-ignore lint/suspicious/noExplicitAny: the tests read whatever the server answered
  body: any;
}

/** One API request to `base` with `apiKey`, the body sent as JSON. */
export async function apiRequest(
  base: string,
  apiKey: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<ApiAnswer> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'X-API-Key': apiKey, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const parsed = res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text;
  return { status: res.status, headers: res.headers, body: parsed };
}
