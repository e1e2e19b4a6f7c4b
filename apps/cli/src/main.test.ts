// The compiled `gyoza` command as a child process (children run `dist`, as deployed: build
// first) against a real server in this process (API app, SQLite file, loopback port).
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, createServer as createTcpServer, type Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { GyozaClient } from '@gyoza/client';
import { freePort, requireBuilt, type TemporaryDirectory, temporaryDirectory, waitFor } from '@gyoza/test-support';
import { type Harness, startHarness } from '@gyoza/test-support/api-harness';

const MAIN = resolve(__dirname, '../dist/main.js');
const API_KEY = 'cli-main-test-key-0123456789';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

interface Background {
  done: Promise<Result>;
  /** What the command has written to stderr so far. */
  stderr(): string;
  /** Whether it has exited. */
  exited(): boolean;
  kill(signal: NodeJS.Signals): void;
}

let server: Harness;
let api: GyozaClient;

function environment(env: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, GYOZA_SERVER_URL: server.url, GYOZA_API_KEY: API_KEY, ...env };
}

/** Runs `gyoza ...` to its end without blocking this process's event loop (the server lives here). */
function gyoza(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<Result> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [MAIN, ...args],
      { cwd: server.dir, env: environment(env), timeout: timeoutMs },
      (error, stdout, stderr) =>
        done({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }),
    );
  });
}

/** Starts `gyoza ...` in the background, for commands that wait on what the test does. */
function gyozaInBackground(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Background {
  const child = spawn(process.execPath, [MAIN, ...args], {
    cwd: options.cwd ?? server.dir,
    env: options.env ?? environment({}),
  });
  let stdout = '';
  let stderr = '';
  let exited = false;
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const done = new Promise<Result>((resolve) => {
    child.on('close', (code) => {
      exited = true;
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
  return {
    done,
    stderr: () => stderr,
    exited: () => exited,
    kill: (signal) => {
      if (!exited) child.kill(signal);
    },
  };
}

/** A run of `greet` taken and started by worker w1: RUNNING. */
async function runningRun(): Promise<string> {
  const run = await api.createRunFromDefinition('greet', { inputs: { name: 'Ada' } });
  await api.heartbeat({ worker_id: 'w1', resources: { cpu_cores: 4, ram_mb: 4096, gpus: [] } });
  const [op] = await api.claim('w1');
  if (op?.id !== run.id) throw new Error('the run was not claimed');
  await api.postEvent(run.id, { type: 'STARTED', worker_id: 'w1' });
  return run.id;
}

beforeAll(async () => {
  requireBuilt(MAIN);
  server = await startHarness({ apiKey: API_KEY, manualClock: false });
  api = new GyozaClient({ baseUrl: server.url, apiKey: API_KEY });
  await api.putDefinition({
    id: 'greet',
    version: '1',
    image: 'busybox:1.36',
    input_specs: { name: { type: 'string' } },
  });
});

afterAll(() => server.close());

describe('gyoza run watch', () => {
  it('keeps following a run while the server restarts, and exits 0 when the run completes', async () => {
    const id = await runningRun();
    const watch = gyozaInBackground(['run', 'watch', id]);
    try {
      await waitFor(
        'the watch to follow the run',
        async () => /RUNNING +attempt 1 started/.test(watch.stderr()) || undefined,
      );

      // The server stops and comes back on the same port and SQLite file. While it is away a
      // bare listener on its port counts the watch's tries and cuts each one, so the outage
      // lasts well past the few retries one request gets, whatever the machine's load.
      const port = Number(new URL(server.url).port);
      server.server.closeAllConnections();
      await new Promise((done) => server.server.close(done));
      let tries = 0;
      const away = createTcpServer((socket: Socket) => {
        tries++;
        socket.destroy();
      });
      await new Promise<void>((done) => away.listen(port, '127.0.0.1', done));
      try {
        await waitFor('12 tries while the server is away', async () =>
          tries >= 12 || watch.exited() ? true : undefined,
        );
      } finally {
        await new Promise((done) => away.close(done));
      }
      expect(watch.exited()).toBe(false);
      await new Promise<void>((done) => server.server.listen(port, '127.0.0.1', done));

      await api.postEvent(id, { type: 'COMPLETED', payload: { outputs: { greeting: 'hello Ada' } } });
      const result = await watch.done;
      expect(result).toMatchObject({ code: 0, stdout: 'greeting: hello Ada\n' });
      expect(result.stderr).toMatch(/\bCOMPLETED\n/);
    } finally {
      watch.kill('SIGKILL');
    }
  }, 120_000);
});

describe('gyoza run create', () => {
  it('refuses --max-attempts with an op, whose runs take the retry policy from the definition', async () => {
    const before = (await api.listRuns({ limit: 1000 })).runs.length;
    const result = await gyoza(['run', 'create', 'greet', '--input', 'name=Ada', '--max-attempts', '3']);
    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toBe(
      "gyoza: --max-attempts only applies to an ad-hoc run (--image); an op's runs use its retry_policy\n",
    );
    expect((await api.listRuns({ limit: 1000 })).runs).toHaveLength(before);
  });

  it('reads the op name after an --input, and refuses --input.name with a usage error', async () => {
    const created = await gyoza(['run', 'create', '--input', 'name=Ada', 'greet']);
    expect(created.code).toBe(0);
    expect(await api.getRun(created.stdout.trim())).toMatchObject({ definition_id: 'greet', inputs: { name: 'Ada' } });

    const dotted = await gyoza(['run', 'create', 'greet', '--input.name=Ada']);
    expect(dotted.code).toBe(2);
    expect(dotted.stderr).toMatch(/^gyoza: Unknown argument: input.name\n/);
    expect(dotted.stderr).not.toContain('    at ');
  });
});

describe('gyoza run ls', () => {
  it('prints a next-page command that keeps the filters and page size', async () => {
    for (let i = 0; i < 3; i++) await api.createRunFromDefinition('greet', { inputs: { name: `n${i}` } });
    await api.createRun({ image: 'busybox:1.36' });
    const first = await gyoza(['run', 'ls', '--state', 'PENDING', '--op', 'greet', '--limit', '1']);
    expect(first.code).toBe(0);
    const hint = /^more: (gyoza run ls .*)$/m.exec(first.stderr)?.[1];
    expect(hint).toMatch(/^gyoza run ls --state PENDING --op greet --limit 1 --cursor \S+$/);

    const second = await gyoza([...(hint ?? '').split(' ').slice(1), '--json']);
    expect(second.code).toBe(0);
    const page = JSON.parse(second.stdout) as { runs: Array<{ definition_id?: string; state: string }> };
    expect(page.runs).toHaveLength(1);
    expect(page.runs[0]).toMatchObject({ definition_id: 'greet', state: 'PENDING' });
  });

  it('refuses --all with --cursor: every page starts from the first', async () => {
    const result = await gyoza(['run', 'ls', '--all', '--cursor', 'garbage']);
    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toBe('gyoza: --all starts from the first page: drop --cursor\n');
  });
});

describe('a server URL that is not the API', () => {
  it('exits 2 with one line naming the URL when a success answer is not JSON', async () => {
    const page = createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>gyoza</title>');
    });
    await new Promise<void>((done) => page.listen(0, '127.0.0.1', done));
    const base = `http://127.0.0.1:${(page.address() as AddressInfo).port}/ui`;
    try {
      const result = await gyoza(['run', 'ls', '--server', base]);
      expect(result).toMatchObject({ code: 2, stdout: '' });
      expect(result.stderr).toBe(`gyoza: unexpected answer from ${base}/runs?limit=50: not JSON (text/html)\n`);
    } finally {
      page.closeAllConnections();
      await new Promise((done) => page.close(done));
    }
  });
});

describe('gyoza server start and gyoza dev', () => {
  let home: TemporaryDirectory;
  beforeEach(() => {
    home = temporaryDirectory('gyoza-cli-serve-');
  });
  afterEach(() => home.remove());

  /** Starts the command in `home` without any GYOZA_* variable, and waits for its server to answer. */
  async function serve(args: string[]): Promise<{ base: string; command: Background }> {
    const port = await freePort();
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GYOZA_')));
    const command = gyozaInBackground([...args, '--port', String(port)], { cwd: home.dir, env });
    const base = `http://127.0.0.1:${port}`;
    await waitFor(
      'the server to answer /health',
      async () =>
        command.exited()
          ? true
          : fetch(`${base}/health`).then(
              (r) => r.ok || undefined,
              () => undefined,
            ),
      { timeoutMs: 60_000 },
    );
    if (command.exited()) throw new Error(`${args.join(' ')} exited: ${(await command.done).stderr}`);
    return { base, command };
  }

  async function stop(command: Background): Promise<Result> {
    command.kill('SIGTERM');
    const result = await command.done;
    command.kill('SIGKILL');
    return result;
  }

  it('serves with the key --api-key gives, as GYOZA_API_KEY would, and writes no key file', async () => {
    const key = 'served-key-0123456789';
    const { base, command } = await serve(['server', 'start', '--api-key', key]);
    try {
      expect(await new GyozaClient({ baseUrl: base, apiKey: key }).listDefinitions()).toEqual([]);
      await expect(
        new GyozaClient({ baseUrl: base, apiKey: 'another-key-0123' }).listDefinitions(),
      ).rejects.toMatchObject({
        status: 401,
      });
      expect(existsSync(join(home.dir, '.gyoza', 'api-key'))).toBe(false);
    } finally {
      expect((await stop(command)).code).toBe(0);
    }
  }, 90_000);

  it('gives gyoza dev its --api-key, for the server and the worker beside it', async () => {
    const key = 'dev-key-0123456789';
    const { base, command } = await serve(['dev', '--api-key', key, '--id', 'dev-w', '--gpus', 'none']);
    try {
      const client = new GyozaClient({ baseUrl: base, apiKey: key });
      await waitFor('the worker to register', async () => {
        const workers = await client.listWorkers();
        return workers.some((w) => w.id === 'dev-w') || undefined;
      });
      expect(existsSync(join(home.dir, '.gyoza', 'api-key'))).toBe(false);
    } finally {
      await stop(command);
    }
  }, 90_000);

  it.each([
    [['server', 'start', '--server', 'http://127.0.0.1:1'], 'gyoza server start serves on --host and --port'],
    [['server', 'start', '--json'], 'gyoza server start prints logs, not JSON'],
    [['dev', '--server', 'http://127.0.0.1:1'], 'gyoza dev serves on --port'],
  ])('refuses %p, a client flag, with exit 2 before serving', async (args, message) => {
    // Were it to serve instead, it would be on a port of its own and stopped by the timeout.
    const result = await gyoza([...args, '--port', '0'], {}, 20_000);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`gyoza: ${message}`);
  });
});
