// Start-up that cannot go on, or is stopped while it runs: the built server (and `gyoza server
// start`) as real processes over real files and sockets. Each must end, with one line and no
// stack trace, within a generous deadline (a hang fails the test rather than the suite).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { requireBuilt, type TemporaryDirectory, temporaryDirectory, waitFor } from '@gyoza/test-support';

const serverMain = join(__dirname, '..', 'dist', 'main.js');
const cliMain = join(__dirname, '..', '..', 'cli', 'dist', 'main.js');
const KEY = 'start-up-test-key';
const DEADLINE_MS = 30_000;
jest.setTimeout(90_000);

let tmp: TemporaryDirectory;
beforeEach(() => {
  tmp = temporaryDirectory('gyoza-start-up-');
});
afterEach(() => tmp.remove());

interface Started {
  child: ChildProcess;
  /** Its exit code (null when a signal ended it). */
  exited: Promise<number | null>;
  /** Resolves once it and every process that shares its stderr (cluster children) are gone. */
  closed: Promise<void>;
  stderr(): string;
}

/** `node ...args` in the test's directory, with only the environment given (and PATH). */
function run(args: string[], env: Record<string, string>): Started {
  const child = spawn(process.execPath, args, {
    cwd: tmp.dir,
    env: { PATH: process.env.PATH, GYOZA_LOG_LEVEL: 'warn', GYOZA_HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const closed = new Promise<void>((resolve) => child.stderr?.once('close', () => resolve()));
  return { child, exited, closed, stderr: () => stderr };
}

/** `promise`, or a failure naming `what` once the deadline has passed (the child is then killed). */
async function within<T>(what: string, started: Started, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still waiting after ${DEADLINE_MS} ms for ${what}`)), DEADLINE_MS);
  });
  try {
    return await Promise.race([promise, late]);
  } catch (error) {
    started.child.kill('SIGKILL');
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** A loopback port held by this test, so that nothing else can listen on it. */
async function holdPort(): Promise<{ port: number; release(): void }> {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const { port } = holder.address() as { port: number };
  return { port, release: () => holder.close() };
}

const STACK_LINE = /\n\s+at /;

describe('a key file that cannot be used', () => {
  /** The data directory `sqlite:<data>/gyoza.db` gives, made with a fault in `root`. */
  function keyFile(content: string) {
    return (root: string) => {
      const data = join(root, 'data');
      mkdirSync(data, { mode: 0o700 });
      writeFileSync(join(data, 'api-key'), content, { mode: 0o600 });
      return data;
    };
  }

  // The tests run as root in CI, where file modes refuse nothing: the file system refuses
  // instead, with a data directory below a regular file (ENOTDIR) and a key file that is a
  // directory (EISDIR), which take the same path as EACCES.
  it.each<[string, (root: string) => string, (data: string) => string]>([
    [
      'a data directory below a regular file',
      (root) => {
        writeFileSync(join(root, 'a-file'), '');
        return join(root, 'a-file', 'data');
      },
      (data) =>
        `cannot create the key file ${data}/api-key (ENOTDIR); let the server's user write in ${data}, or set GYOZA_API_KEY`,
    ],
    [
      'a key file that is a directory',
      (root) => {
        const data = join(root, 'data');
        mkdirSync(join(data, 'api-key'), { recursive: true, mode: 0o700 });
        return data;
      },
      (data) =>
        `cannot read the key file ${data}/api-key (EISDIR); make it a file the server's user can read, or set GYOZA_API_KEY`,
    ],
    [
      'a key too short for GYOZA_API_KEY',
      keyFile('abc\n'),
      (data) => `the key in ${data}/api-key must be at least 8 characters; write another into it or delete it`,
    ],
    [
      'a key not printable ASCII, as GYOZA_API_KEY must be',
      keyFile('clé-secrète-2024\n'),
      (data) => `the key in ${data}/api-key must be printable ASCII characters; write another into it or delete it`,
    ],
  ])('with %s, stops start-up with exit 2 and one line naming the file', async (_, prepare, reason) => {
    requireBuilt(serverMain);
    const data = prepare(tmp.dir);
    const server = run([serverMain], { GYOZA_PORT: '0', GYOZA_DATABASE_URL: `sqlite:${data}/gyoza.db` });
    // Before: a stack trace (the file system's error, uncaught), or the key accepted and served.
    const code = await within('the server to refuse its key file', server, server.exited);
    expect(server.stderr()).toBe(`gyoza: GYOZA_API_KEY: ${reason(data)}\n`);
    expect(code).toBe(2);
  });
});

describe('gyoza server start', () => {
  it('with --workers 2 on a port in use, ends with exit 2 and lines naming GYOZA_PORT, without a stack', async () => {
    requireBuilt(cliMain);
    const held = await holdPort();
    try {
      const cli = run([cliMain, 'server', 'start', '--workers', '2', '--port', String(held.port)], {
        GYOZA_API_KEY: KEY,
        GYOZA_DATABASE_URL: `sqlite:${tmp.dir}/gyoza.db`,
      });
      // Before: each child wrote its line and stayed alive on the cluster's channel, the
      // primary waited for them, and the command never ended.
      const code = await within('gyoza server start to end', cli, cli.exited);
      await within('its children to end', cli, cli.closed);
      const lines = cli.stderr().trimEnd().split('\n');
      expect(lines[0]).toBe(`gyoza: GYOZA_PORT: 127.0.0.1:${held.port} is in use`);
      expect(lines).toContain('gyoza: a server process exited before listening (code 2)');
      expect(lines.every((line) => line.startsWith('gyoza: '))).toBe(true);
      expect(cli.stderr()).not.toMatch(STACK_LINE);
      expect(code).toBe(2);
    } finally {
      held.release();
    }
  });

  it.each(['server start', 'dev'])(
    'refuses gyoza %s --port 1e4 as GYOZA_PORT=1e4 is refused, with exit 2',
    async (command) => {
      requireBuilt(cliMain);
      const cli = run([cliMain, ...command.split(' '), '--port', '1e4'], {
        GYOZA_API_KEY: KEY,
        GYOZA_DATABASE_URL: `sqlite:${tmp.dir}/gyoza.db`,
      });
      // Before: yargs read it as the number 10000, and the server listened there.
      const code = await within(`gyoza ${command} to refuse the port`, cli, cli.exited);
      expect(cli.stderr()).toBe("gyoza: GYOZA_PORT: must be an integer from 0 to 65535, got '1e4'\n");
      expect(code).toBe(2);
    },
  );
});

describe('a cluster stopped while it starts', () => {
  /**
   * Preloaded in every process of the cluster: a child stops at the very beginning until the
   * gate file is removed, and says it is there with a file `<gate>.<pid>`. It waits
   * synchronously, so that nothing of its own runs meanwhile, not even its reading of the
   * cluster's channel.
   */
  const HOLD = `const { existsSync, writeFileSync } = require('node:fs');
if (process.env.GYOZA_CLUSTER_WORKER === '1') {
  writeFileSync(process.env.HOLD_GATE + '.' + process.pid, '');
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (existsSync(process.env.HOLD_GATE)) Atomics.wait(pause, 0, 0, 20);
}
`;

  /** A two-process cluster whose children are held at their start, once both are. */
  async function startHeld(): Promise<{ primary: Started; release(): void }> {
    requireBuilt(serverMain);
    const hold = join(tmp.dir, 'hold.cjs');
    const gates = join(tmp.dir, 'gates');
    mkdirSync(gates);
    const gate = join(gates, 'gate');
    writeFileSync(hold, HOLD);
    writeFileSync(gate, '');
    const primary = run(['--require', hold, serverMain], {
      GYOZA_API_KEY: KEY,
      GYOZA_WORKERS: '2',
      GYOZA_PORT: '0',
      GYOZA_DATABASE_URL: `sqlite:${tmp.dir}/gyoza.db`,
      HOLD_GATE: gate,
    });
    const release = () => rmSync(gate, { force: true });
    try {
      await waitFor('both children to be held', async () => (readdirSync(gates).length === 3 ? true : undefined), {
        timeoutMs: DEADLINE_MS,
      });
    } catch (error) {
      release();
      primary.child.kill('SIGKILL');
      throw error;
    }
    return { primary, release };
  }

  it('on SIGTERM, stops its children and exits 0, without a stack', async () => {
    const { primary, release } = await startHeld();
    try {
      primary.child.kill('SIGTERM');
      // Before: the signal killed the primary (exit 143, here null) and its children, let
      // go, crashed on the closed channel (`Error: write EPIPE ... at keyFromPrimary`).
      const code = await within('the primary to exit', primary, primary.exited);
      release();
      await within('its children to end', primary, primary.closed);
      expect(primary.stderr()).toBe('');
      expect(code).toBe(0);
    } finally {
      release();
    }
  });

  it('whose primary is killed, lets its children end quietly', async () => {
    const { primary, release } = await startHeld();
    try {
      primary.child.kill('SIGKILL');
      await within('the primary to exit', primary, primary.exited);
      // The children go on starting with nobody to answer on the channel.
      release();
      await within('its children to end', primary, primary.closed);
      expect(primary.stderr()).not.toMatch(STACK_LINE);
      expect(primary.stderr()).toBe('');
    } finally {
      release();
    }
  });
});
