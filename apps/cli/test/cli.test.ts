// The compiled `gyoza` command run as a child process against a real server in this process
// (API app + SQLite file + scheduler on a loopback port); the test plays the worker.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { GyozaClient } from '@gyoza/client';
import { freePort, waitFor } from '@gyoza/test-support';
import { type Harness, startHarness } from '@gyoza/test-support/api-harness';

const MAIN = resolve(__dirname, '../dist/main.js');
const EXAMPLE = resolve(__dirname, '../../../examples/hello/gyoza.yml');
const API_KEY = 'cli-test-key-0123456789';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

let server: Harness;
let dir: string;
let url: string;
let api: GyozaClient;

/** Runs `gyoza ...` to its end without blocking this process's event loop (the server lives here). */
function gyoza(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [MAIN, ...args],
      { cwd: dir, env: { ...process.env, GYOZA_SERVER_URL: url, GYOZA_API_KEY: API_KEY, ...env }, timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        done({ code, stdout, stderr });
      },
    );
  });
}

interface Background {
  done: Promise<Result>;
  /** What the command has written to stderr so far. */
  stderr(): string;
}

/** Starts `gyoza ...` in the background, for commands that wait on what the test does. */
function gyozaInBackground(args: string[]): Background {
  const child = spawn(process.execPath, [MAIN, ...args], {
    cwd: dir,
    env: { ...process.env, GYOZA_SERVER_URL: url, GYOZA_API_KEY: API_KEY },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const done = new Promise<Result>((resolve) => {
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
  return { done, stderr: () => stderr };
}

/** Waits until the background command printed `text` on stderr (it is following the run). */
async function printed(bg: Background, text: string): Promise<void> {
  await waitFor(`'${text}' on stderr`, async () => bg.stderr().includes(text) || undefined, { intervalMs: 20 });
}

/** Plays a worker through one run, with the client the real worker uses. */
async function work(outcome: 'COMPLETED' | 'FAILED'): Promise<string> {
  await api.heartbeat({
    worker_id: 'w1',
    resources: { cpu_cores: 4, ram_mb: 8192, gpus: [{ id: 0, vram_mb: 24000 }] },
  });
  const [op] = await api.claim('w1', { waitSeconds: 20 });
  if (!op) throw new Error('nothing to claim');
  await api.postEvent(op.id, { type: 'STARTED', worker_id: 'w1' });
  await api.postEvent(op.id, { type: 'LOG', msg: 'saying hello' });
  await api.postEvent(op.id, { type: 'PROGRESS', msg: 50 });
  await api.postEvent(op.id, { type: 'PROGRESS', msg: 100 });
  if (outcome === 'COMPLETED') {
    await api.postEvent(op.id, {
      type: 'COMPLETED',
      payload: { outputs: { greeting: `hello ${String(op.inputs.name)}` } },
    });
  } else {
    await api.postEvent(op.id, { type: 'FAILED', payload: { error_message: 'the container exited with 3' } });
  }
  return op.id;
}

beforeAll(async () => {
  server = await startHarness({ apiKey: API_KEY, manualClock: false });
  dir = server.dir;
  url = server.url;
  api = new GyozaClient({ baseUrl: url, apiKey: API_KEY });
  // Webhooks to example.com would go nowhere here: deploy the example without them.
  writeFileSync(
    join(dir, 'gyoza.yml'),
    'id: greet\nversion: "1"\nimage: busybox:1.36\ninputs:\n  name: string\n  times: {type: integer, default: 1}\n',
  );
});

afterAll(() => server.close());

describe('gyoza op', () => {
  it('deploys the documented example and reads it back', async () => {
    const deployed = await gyoza(['op', 'deploy', EXAMPLE]);
    expect(deployed).toMatchObject({ code: 0, stdout: 'deployed hello@1.0.0 (gyoza-hello:latest)\n' });
    const ls = await gyoza(['op', 'ls', '--json']);
    expect(ls.code).toBe(0);
    expect(JSON.parse(ls.stdout)).toEqual([expect.objectContaining({ id: 'hello', version: '1.0.0' })]);
    const get = await gyoza(['op', 'get', 'hello']);
    expect(get.stdout).toMatch(/^image: gyoza-hello:latest$/m);
    const versions = await gyoza(['op', 'versions', 'hello']);
    expect(versions.stdout.split('\n')[0]).toMatch(/^VERSION\s+IMAGE\s+CREATED$/);
    expect(await gyoza(['op', 'rm', 'hello'])).toMatchObject({ code: 0, stdout: 'deleted 1 definition of hello\n' });
    expect(await gyoza(['op', 'get', 'hello'])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('NOT_FOUND'),
    });
  });

  it('refuses a bad op file naming each line and field, and deploys nothing', async () => {
    const bad = join(dir, 'bad.yml');
    writeFileSync(
      bad,
      'id: bad\nversion: "1"\nimage: busybox\ninputs:\n  n: {type: strin}\nconstraints:\n  ram_mb: lots\n',
    );
    const result = await gyoza(['op', 'deploy', bad]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${bad}:5:13: inputs.n.type: must be one of`);
    expect(result.stderr).toContain(`${bad}:7:11: constraints.ram_mb: must be a non-negative integer`);
    await expect(api.getDefinition('bad')).rejects.toMatchObject({ status: 404 });

    writeFileSync(bad, 'id: bad\nversion: "1"\n  image: [\n');
    const syntax = await gyoza(['op', 'deploy', bad]);
    expect(syntax.code).toBe(2);
    expect(syntax.stderr).toContain(`${bad}:3:`);
  });
});

describe('gyoza run', () => {
  beforeAll(async () => {
    expect((await gyoza(['op', 'deploy'])).code).toBe(0);
  });

  it('creates a run with typed inputs and watches it to completion', async () => {
    const created = await gyoza([
      'run',
      'create',
      'greet',
      '--input',
      'name=Ada',
      '--input',
      'times=2',
      '--priority',
      '5',
    ]);
    expect(created.code).toBe(0);
    const id = created.stdout.trim();
    expect(id).toMatch(/^run_/);
    const run = JSON.parse((await gyoza(['run', 'get', id, '--json'])).stdout);
    expect(run).toMatchObject({ inputs: { name: 'Ada', times: 2 }, priority: 5, state: 'PENDING' });

    const watch = gyozaInBackground(['run', 'watch', id]);
    // Work only once the watch is following, so it sees every change live.
    await printed(watch, 'created');
    expect(await work('COMPLETED')).toBe(id);
    const watched = await watch.done;
    expect(watched.code).toBe(0);
    expect(watched.stdout).toBe('greeting: hello Ada\n');
    const lines = watched.stderr.split('\n').map((l) => l.replace(/^\d\d:\d\d:\d\d {2}/, ''));
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^ASSIGNED +to worker w1/),
        expect.stringMatching(/^RUNNING +attempt 1 started/),
        expect.stringMatching(/^PROGRESS +50%/),
        'COMPLETED',
      ]),
    );
    const logs = await gyoza(['run', 'logs', id]);
    expect(logs.stdout).toMatch(/LOG +saying hello/);
    const attempts = await gyoza(['run', 'attempts', id, '--json']);
    expect(JSON.parse(attempts.stdout)).toEqual([
      expect.objectContaining({ attempt: 1, state: 'COMPLETED', worker_id: 'w1' }),
    ]);
  });

  it('exits 1 with the error when a run created with --wait fails', async () => {
    const waiting = gyozaInBackground(['run', 'create', '--image', 'alpine:3', '--input', 'name=Bob', '--wait']);
    await printed(waiting, 'PENDING');
    await work('FAILED');
    const result = await waiting.done;
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/FAILED: the container exited with 3/);
    expect(result.stdout).toBe('');
  });

  it('cancels a run, and watching it then exits 1', async () => {
    const run = await api.createRunFromDefinition('greet', { inputs: { name: 'Cy' } });
    const cancelled = await gyoza(['run', 'cancel', run.id, '--reason', 'changed my mind']);
    expect(cancelled).toMatchObject({ code: 0, stdout: `${run.id} CANCELLED\n` });
    const watch = await gyoza(['run', 'watch', run.id, '--json']);
    expect(watch.code).toBe(1);
    expect(JSON.parse(watch.stdout)).toMatchObject({ id: run.id, state: 'CANCELLED' });
    const again = await gyoza(['run', 'cancel', run.id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('INVALID_TRANSITION');
  });

  it('lists runs and workers as tables and as JSON', async () => {
    const ls = await gyoza(['run', 'ls', '--state', 'COMPLETED', '--json']);
    expect(ls.code).toBe(0);
    const { runs } = JSON.parse(ls.stdout) as { runs: Array<{ state: string }> };
    expect(runs.length).toBeGreaterThan(0);
    expect(runs.every((r) => r.state === 'COMPLETED')).toBe(true);
    const table = await gyoza(['run', 'ls']);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+OP\s+STATE\s+PROGRESS\s+ATTEMPT\s+WORKER\s+CREATED$/);
    const workers = await gyoza(['workers', 'ls']);
    expect(workers.code).toBe(0);
    expect(workers.stdout).toMatch(/^w1\s+active\s+4\/4\s+8192\/8192\s+0: 24000\/24000 MB/m);
    const json = await gyoza(['workers', 'ls', '--json']);
    expect(JSON.parse(json.stdout)).toEqual([expect.objectContaining({ id: 'w1', free: expect.any(Object) })]);
  });

  it("lists a run's webhook deliveries and the dead ones, and redelivers one", async () => {
    const run = await api.createRun({
      image: 'busybox',
      event_delivery: { webhook_url: 'https://hooks.example.com/x', event_types: ['CREATED'], secret: 's3cret' },
    });
    const id = `${run.id}-1`;
    const table = await gyoza(['run', 'deliveries', run.id]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`^${id}\\s+CREATED\\s+pending\\s+0\\s+-`, 'm'));
    expect(table.stdout).not.toContain('s3cret');
    await server.store.deliveries.recordAttempt(
      id,
      { status: 'dead', attempts: 3, attempted_at: new Date(), status_code: 500, error: 'HTTP 500' },
      new Date(),
    );
    const dead = await gyoza(['deliveries', 'ls', '--dead', '--json']);
    expect(JSON.parse(dead.stdout)).toEqual([expect.objectContaining({ id, status: 'dead', last_status_code: 500 })]);
    const again = await gyoza(['deliveries', 'redeliver', id]);
    expect(again).toMatchObject({ code: 0, stdout: `${id} queued\n` });
    expect(JSON.parse((await gyoza(['deliveries', 'ls', '--dead', '--json'])).stdout)).toEqual([]);
  });

  it('refuses bad usage with exit 2 before calling the server', async () => {
    expect((await gyoza(['run', 'create'])).code).toBe(2);
    const notNumber = await gyoza(['run', 'create', '--image', 'busybox', '--priority', 'abc']);
    expect(notNumber).toMatchObject({ code: 2, stderr: expect.stringContaining('--priority must be a number') });
    const notUrl = await gyoza(['run', 'ls', '--server', '127.0.0.1:5555']);
    expect(notUrl).toMatchObject({ code: 2, stderr: expect.stringContaining('must be an http:// or https:// URL') });
    expect(notUrl.stderr).not.toContain('    at ');
    const badInput = await gyoza(['run', 'create', 'greet', '--input', 'times=lots', '--input', 'name=x']);
    expect(badInput).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("--input times: 'lots' is not an integer"),
    });
  });
});

describe('connection problems', () => {
  it('exits 2 and names the URL when the server is unreachable', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const result = await gyoza(['run', 'ls', '--server', dead]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`cannot reach the gyoza server at ${dead}/runs`);
  });

  it('exits 1 with the server error code on a wrong API key', async () => {
    const result = await gyoza(['op', 'ls', '--api-key', 'wrong']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('UNAUTHORIZED');
  });
});

describe('gyoza server start', () => {
  it('serves with the flags given, writes a key the CLI then finds, and stops on SIGTERM', async () => {
    const home = mkdtempSync(join(tmpdir(), 'gyoza-cli-server-'));
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GYOZA_')));
    const child = spawn(process.execPath, [MAIN, 'server', 'start', '--port', '0', '--log-level', 'info'], {
      cwd: home,
      env,
    });
    try {
      let logs = '';
      const serverUrl = await new Promise<string>((found, failed) => {
        child.stdout.on('data', (c: Buffer) => {
          logs += c.toString();
          const match = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(logs);
          if (match?.[1]) found(match[1]);
        });
        child.on('close', (code) => failed(new Error(`server exited with ${code}: ${logs}`)));
      });
      // No GYOZA_API_KEY anywhere: the CLI reads ./.gyoza/api-key like the server wrote it.
      const ls = await new Promise<Result>((done) => {
        execFile(process.execPath, [MAIN, 'op', 'ls', '--json', '--server', serverUrl], { cwd: home, env }, (e, o, s) =>
          done({ code: e ? Number(e.code) : 0, stdout: o, stderr: s }),
        );
      });
      expect(ls).toMatchObject({ code: 0, stdout: '[]\n' });
      const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('stops with exit 2 and one line naming a bad setting', async () => {
    const result = await gyoza(['server', 'start'], { GYOZA_PORT: 'abc' });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe("gyoza: GYOZA_PORT: must be an integer from 0 to 65535, got 'abc'\n");
  });
});
