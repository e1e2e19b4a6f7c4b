import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createApp } from '@gyoza/api';
import { type EventJson, GyozaClient, type RunJson } from '@gyoza/client';
import { Scheduler } from '@gyoza/scheduler';
import { openSqliteStore } from '@gyoza/store-sqlite';
import { commitBusyboxImage, requireBuilt, runNode, SCRIPT_CMD, waitFor } from '@gyoza/test-support';
import type { Harness } from '@gyoza/test-support/api-harness';
import { containerSpec, LABELS, type RunningWorker } from '../src';
import { docker, startLiveServer, TestAgents } from './agents';

// Ops in these tests run a shell script given as the `script` input (GYOZA_INPUT_SCRIPT).
const IMAGE = 'gyoza-test-sh:latest';
const KEY = 'worker-test-key';
const cli = join(__dirname, '..', '..', 'cli', 'dist', 'main.js');

let server: Harness;
let url: string;
let client: GyozaClient;
const agents = new TestAgents(() => ({ client }));
const children: ChildProcess[] = [];

beforeAll(async () => {
  try {
    execFileSync('docker', ['info'], { stdio: 'ignore' });
  } catch {
    throw new Error('no Docker engine answers: run `bash scripts/start-docker.sh` (as root)');
  }
  commitBusyboxImage(IMAGE, SCRIPT_CMD);
  ({ server, client } = await startLiveServer(KEY, 2));
  url = server.url;
});

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await agents.stopAll();
});

afterAll(() => server.close());

const agent = (id: string, cpu = 2, through = client): Promise<RunningWorker> =>
  agents.start(id, { client: through, resources: { cpu_cores: cpu, ram_mb: 2048, gpus: [] } });

async function submit(script: string, constraints: Record<string, number> = {}, maxAttempts = 1): Promise<RunJson> {
  return client.createRun({
    image: IMAGE,
    inputs: { script },
    constraints: { cpu_cores: 1, ram_mb: 64, ...constraints },
    retry_policy: { max_attempts: maxAttempts, backoff_seconds: 0 },
  });
}

const inStateOn =
  (server: GyozaClient) =>
  (id: string, ...states: string[]) =>
    waitFor(`${id} in ${states.join('/')}`, async () => {
      const run = await server.getRun(id);
      return states.includes(run.state) ? run : undefined;
    });
const inState = (id: string, ...states: string[]) => inStateOn(client)(id, ...states);

const containersOf = async (workerId: string) =>
  docker.listContainers({ all: true, filters: { label: [`${LABELS.worker}=${workerId}`] } });

const eventsOf = async (id: string) => (await client.listEvents(id)).events;

/** The event types but LOG, in order. */
const lifecycleOf = (events: EventJson[]) => events.map((e) => e.type).filter((t) => t !== 'LOG');

/** The op's output, its LOG batches joined line by line. */
const logOf = (events: EventJson[]) =>
  events
    .filter((e) => e.type === 'LOG')
    .map((e) => e.msg)
    .join('\n');

it('runs an op: inputs in, log lines and progress out, outputs on success, container removed', async () => {
  await agent('w-ok');
  const run = await submit(
    'echo hello; echo "::gyoza progress 40"; cat /gyoza/inputs.json; echo; echo "run $GYOZA_RUN_ID attempt $GYOZA_ATTEMPT"; echo \'{"answer": 42}\' > /gyoza/outputs.json',
  );
  const done = await inState(run.id, 'COMPLETED', 'FAILED');
  expect(done).toMatchObject({ state: 'COMPLETED', outputs: { answer: 42 }, progress: 100, worker_id: 'w-ok' });
  const events = await eventsOf(run.id);
  expect(lifecycleOf(events)).toEqual(['CREATED', 'ASSIGNED', 'STARTED', 'PROGRESS', 'COMPLETED']);
  expect(events.find((e) => e.type === 'PROGRESS')?.msg).toBe('40');
  const log = logOf(events);
  expect(log).toContain('hello');
  expect(log).toContain('"script":');
  expect(log).toContain(`run ${run.id} attempt 1`);
  expect(log.split('\n')).not.toContain('::gyoza progress 40'); // progress lines become PROGRESS, not LOG
  expect(await containersOf('w-ok')).toEqual([]);
});

it('reports a failure with the exit code and the last lines', async () => {
  await agent('w-fail');
  const run = await submit('echo preparing; echo boom >&2; exit 3');
  const failed = await inState(run.id, 'FAILED', 'COMPLETED');
  expect(failed.state).toBe('FAILED');
  expect(failed.error_message).toMatch(/^exit code 3\nlast lines:\n/);
  expect(failed.error_message).toContain('boom');
});

it('detects a run killed for exceeding its memory limit', async () => {
  await agent('w-oom');
  const run = await submit('dd if=/dev/zero of=/dev/null bs=64M count=1', { ram_mb: 16 });
  const failed = await inState(run.id, 'FAILED', 'COMPLETED');
  expect(failed.error_message).toMatch(/^OOM killed \(memory limit 16 MB\)/);
});

it('stops and removes the container of a run cancelled while it runs', async () => {
  await agent('w-cancel');
  const run = await submit('echo started; sleep 60');
  await inState(run.id, 'RUNNING');
  await waitFor('the container', async () => ((await containersOf('w-cancel')).length === 1 ? true : undefined));
  await client.cancelRun(run.id, 'changed my mind');
  await waitFor('the container to go', async () => ((await containersOf('w-cancel')).length === 0 ? true : undefined), {
    timeoutMs: 10_000,
  });
  expect((await client.getRun(run.id)).state).toBe('CANCELLED');
});

/**
 * A proxy to the server that holds back the answer to the first report carrying STARTED (the
 * server has applied it) until `release()`, and counts the heartbeats it answered.
 */
async function holdStartedAnswer(target: string) {
  let release = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let holding = false;
  let heartbeats = 0;
  const upstream = new URL(target);
  const proxy = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const hold = !holding && req.url?.endsWith('/events') === true && body.includes('"STARTED"');
      if (hold) holding = true;
      const forward = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
          agent: false,
        },
        async (answer) => {
          if (hold) await released;
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          if (req.url?.endsWith('/heartbeat')) answer.on('end', () => heartbeats++);
        },
      );
      forward.on('error', () => res.destroy());
      // An agent that gives up a request (a long-poll at stop) hangs up on the server too.
      res.on('close', () => {
        if (!res.writableFinished) forward.destroy();
      });
      forward.end(body);
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    release: () => release(),
    heartbeats: () => heartbeats,
    close: () => {
      proxy.closeAllConnections();
      return new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}

it('never starts the container of a run cancelled while its STARTED report was on its way, and frees its slot', async () => {
  const proxy = await holdStartedAnswer(url);
  try {
    await agents.start('w-early-cancel', {
      client: new GyozaClient({ baseUrl: proxy.url, apiKey: KEY, retries: 0 }),
      resources: { cpu_cores: 2, ram_mb: 2048, gpus: [] },
      maxParallel: 1,
    });
    const run = await submit('echo started; sleep 300');
    await inState(run.id, 'RUNNING'); // applied; its answer is held
    await client.cancelRun(run.id, 'changed my mind');
    // The agent hears of it in a heartbeat's stop_runs while it still waits for that answer.
    const before = proxy.heartbeats();
    await waitFor('heartbeats after the cancel', async () => proxy.heartbeats() >= before + 3 || undefined);
    proxy.release();
    const next = await submit('echo next');
    await inState(next.id, 'COMPLETED');
    expect(await containersOf('w-early-cancel')).toEqual([]);
    expect((await client.getRun(run.id)).state).toBe('CANCELLED');
  } finally {
    await agents.stopAll();
    await proxy.close();
  }
});

it('runs two ops in parallel within its capacity and holds the third back', async () => {
  await agent('w-par', 2);
  const runs = [await submit('sleep 2'), await submit('sleep 2'), await submit('sleep 2')];
  const states = await waitFor('two running', async () => {
    const now = await Promise.all(runs.map((r) => client.getRun(r.id)));
    return now.filter((r) => r.state === 'RUNNING').length === 2 ? now.map((r) => r.state) : undefined;
  });
  expect(states.filter((s) => s === 'PENDING')).toHaveLength(1);
  for (const r of runs) expect((await inState(r.id, 'COMPLETED', 'FAILED')).state).toBe('COMPLETED');
});

it('survives an agent killed with SIGKILL: the run is retried elsewhere, the orphan removed on restart', async () => {
  requireBuilt(cli);
  const spawnAgent = () => {
    const child = spawn(
      process.execPath,
      [cli, 'worker', 'start', '--server', url, '--api-key', KEY, '--id', 'w-killed', '--network', 'none'],
      { stdio: 'ignore' },
    );
    children.push(child);
    return child;
  };
  const child = spawnAgent();
  await waitFor('the agent to register', async () =>
    (await client.listWorkers()).some((w) => w.id === 'w-killed' && w.status === 'active') ? true : undefined,
  );
  const run = await submit('if [ "$GYOZA_ATTEMPT" = 1 ]; then echo first; sleep 60; fi; echo second', {}, 2);
  const running = await inState(run.id, 'RUNNING');
  expect(running.worker_id).toBe('w-killed');
  await waitFor('the container', async () => ((await containersOf('w-killed')).length === 1 ? true : undefined));
  child.kill('SIGKILL');

  // The server evicts the silent worker, fails the attempt (WORKER_LOST) and retries it here.
  await agent('w-rescue');
  const done = await inState(run.id, 'COMPLETED');
  expect(done).toMatchObject({ current_attempt: 2, worker_id: 'w-rescue' });
  const types = (await eventsOf(run.id)).map((e) => e.type);
  expect(types).toEqual(expect.arrayContaining(['WORKER_LOST', 'FAILED', 'RETRIED']));
  expect((await containersOf('w-killed')).length).toBe(1); // the orphan is still there

  spawnAgent();
  await waitFor('the orphan to be removed', async () =>
    (await containersOf('w-killed')).length === 0 ? true : undefined,
  );
}, 60_000);

it('runs the README example end to end: examples/hello built, deployed, run and watched with the CLI', async () => {
  requireBuilt(cli);
  const root = join(__dirname, '..', '..', '..');
  // No registry answers here, so the example is built on the local busybox image.
  execFileSync(
    'docker',
    [
      'build',
      '--network',
      'none',
      '--build-arg',
      'BASE=gyoza-busybox:latest',
      '-t',
      'gyoza-hello:latest',
      'examples/hello',
    ],
    { cwd: root, stdio: 'ignore', env: { ...process.env, DOCKER_BUILDKIT: '0' } },
  );
  const gyoza = (...args: string[]) =>
    new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = spawn(process.execPath, [cli, ...args, '--server', url, '--api-key', KEY], { cwd: root });
      children.push(child);
      let stdout = '';
      child.stdout.on('data', (chunk) => {
        stdout += chunk;
      });
      child.on('close', (code) => resolve({ code, stdout }));
    });

  expect((await gyoza('op', 'deploy', 'examples/hello/gyoza.yml')).code).toBe(0);
  await agent('w-hello');
  const created = await gyoza(
    'run',
    'create',
    'hello',
    '--input',
    'name=Ada',
    '--input',
    'times=3',
    '--input',
    'shout=true',
  );
  expect(created.code).toBe(0);
  const id = created.stdout.trim();
  expect(id).toMatch(/^run_/);
  const watched = await gyoza('run', 'watch', id);
  expect(watched.code).toBe(0);
  expect(watched.stdout).toContain('greeting: HELLO, ADA!');
  expect(watched.stdout).toContain('times: 3');
  const log = logOf(await eventsOf(id));
  expect(log.split('\n').filter((line) => line === 'HELLO, ADA!')).toHaveLength(3);
}, 60_000);

it('works through a server outage: events are buffered and delivered in order, heartbeats resume', async () => {
  // A server of its own, whose reaper would not evict the worker during the outage: while
  // the server is down, nothing can evict anyone.
  const own = await openSqliteStore({ path: join(server.dir, 'outage.db') });
  const ownScheduler = new Scheduler({ store: own, workerTimeoutSeconds: 60, pollIntervalMs: 50 });
  ownScheduler.start();
  const app = createApp({ store: own, scheduler: ownScheduler, apiKey: KEY });
  const listen = (port: number) =>
    new Promise<Server>((resolve) => {
      const s = app.listen(port, '127.0.0.1', () => resolve(s));
    });
  let http = await listen(0);
  const port = (http.address() as AddressInfo).port;
  const ownClient = new GyozaClient({ baseUrl: `http://127.0.0.1:${port}`, apiKey: KEY, retries: 0 });
  const down = async () => {
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
  };
  try {
    await agent('w-outage', 2, ownClient);
    const run = await ownClient.createRun({
      image: IMAGE,
      inputs: {
        script: 'echo before; sleep 2; echo "::gyoza progress 50"; echo after; echo \'{"x": 1}\' > /gyoza/outputs.json',
      },
      constraints: { cpu_cores: 1, ram_mb: 64 },
    });
    const ownInState = inStateOn(ownClient);
    await ownInState(run.id, 'RUNNING');
    await down();
    // The op ends while the server is away: its container goes, its outcome waits to be sent.
    await waitFor('the container to go', async () =>
      (await containersOf('w-outage')).length === 0 ? true : undefined,
    );
    await new Promise((r) => setTimeout(r, 500));
    expect((await own.runs.getRun(run.id))?.state).toBe('RUNNING'); // nothing got through yet
    const before = Date.now();
    http = await listen(port);

    const done = await ownInState(run.id, 'COMPLETED', 'FAILED', 'CANCELLED');
    expect(done).toMatchObject({ state: 'COMPLETED', outputs: { x: 1 }, worker_id: 'w-outage' });
    const events = (await ownClient.listEvents(run.id)).events;
    expect(lifecycleOf(events)).toEqual(['CREATED', 'ASSIGNED', 'STARTED', 'PROGRESS', 'COMPLETED']);
    expect(logOf(events).split('\n')).toEqual(['before', 'after']);
    const afterAt = events.findIndex((e) => e.type === 'LOG' && e.msg?.split('\n').includes('after'));
    expect(afterAt).toBeGreaterThan(-1);
    expect(afterAt).toBeLessThan(events.findIndex((e) => e.type === 'COMPLETED'));
    await waitFor('a heartbeat after the outage', async () => {
      const w = (await ownClient.listWorkers()).find((x) => x.id === 'w-outage');
      return w && Date.parse(w.last_heartbeat_at) >= before && w.status === 'active' ? true : undefined;
    });
    // And it claims again.
    const next = await ownClient.createRun({ image: IMAGE, inputs: { script: 'true' }, constraints: { cpu_cores: 1 } });
    await ownInState(next.id, 'COMPLETED');
  } finally {
    await agents.stopAll();
    await ownScheduler.stop();
    await down().catch(() => undefined);
    await own.close();
  }
}, 60_000);

it('lets a process that embeds the agent exit once stop() gave up on an unreachable server', async () => {
  requireBuilt(join(__dirname, '..', 'dist', 'index.js'));
  const own = await startLiveServer(KEY, 60);
  let ownUp = true;
  try {
    const embedded = runNode(join(__dirname, 'embedded-agent.js'), [], {
      env: { ...process.env, GYOZA_URL: own.server.url, GYOZA_API_KEY: KEY, WORKER_ID: 'w-embedded' },
    });
    children.push(embedded.child);
    const run = await own.client.createRun({
      image: IMAGE,
      inputs: { script: 'echo started; sleep 60' },
      constraints: { cpu_cores: 1, ram_mb: 64 },
    });
    await inStateOn(own.client)(run.id, 'RUNNING');
    await own.server.close();
    ownUp = false;
    embedded.child.kill('SIGTERM');
    // 200 ms of grace, the container removed, 500 ms of trying to report it: then nothing
    // may keep the process alive (its reports were retried forever before).
    let timer: NodeJS.Timeout | undefined;
    const exit = await Promise.race([
      embedded.exited,
      new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve('still running after 30 s'), 30_000);
      }),
    ]);
    clearTimeout(timer);
    expect(exit).toBe(0);
    expect(await containersOf('w-embedded')).toEqual([]);
  } finally {
    if (ownUp) await own.server.close();
  }
}, 60_000);

it('on SIGTERM stops claiming, lets runs finish within the grace period, then stops the rest and reports', async () => {
  requireBuilt(cli);
  const child = spawn(
    process.execPath,
    [
      cli,
      'worker',
      'start',
      '--server',
      url,
      '--api-key',
      KEY,
      '--id',
      'w-term',
      '--network',
      'none',
      '--cpu',
      '4',
      '--ram-mb',
      '1024',
      '--heartbeat-seconds',
      '0.3',
      '--grace-seconds',
      '3',
    ],
    // Its log (pino lines on stdout) says when it has taken the signal.
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  children.push(child);
  let log = '';
  child.stdout?.on('data', (chunk) => {
    log += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const short = await submit('sleep 1; echo short done', {}, 1);
  const long = await submit('echo long; sleep 60', {}, 1);
  await inState(short.id, 'RUNNING');
  await inState(long.id, 'RUNNING');
  child.kill('SIGTERM');
  // A run submitted before the agent has read the signal is a run like any other: its pending
  // long-poll claim may take it and run it. So this one is submitted once it drains.
  await waitFor('the agent to drain', async () => (log.includes('"msg":"agent draining"') ? true : undefined));
  const later = await submit('echo too late');

  const sentAt = Date.now();
  expect(await exited).toBe(0);
  const tookMs = Date.now() - sentAt;
  expect(tookMs).toBeGreaterThanOrEqual(2500); // it waited for the grace period...
  expect(tookMs).toBeLessThan(15_000); // ...and not for the long run
  expect(await client.getRun(short.id)).toMatchObject({ state: 'COMPLETED' });
  const stopped = await client.getRun(long.id);
  expect(stopped).toMatchObject({ state: 'FAILED' });
  expect(stopped.error_message).toContain('worker shutting down');
  expect(await containersOf('w-term')).toEqual([]);
  // A run submitted as the agent drains may still be handed to it by the claim it is
  // abandoning; the agent hands it back before it exits (or the server does, when the claim's
  // answer is not delivered), so it is PENDING the moment the agent is gone. It never runs there.
  const back = await client.getRun(later.id);
  expect(back).toMatchObject({ state: 'PENDING' });
  expect(back.worker_id).toBeUndefined();
  const laterEvents = await eventsOf(later.id);
  expect(laterEvents.map((e) => e.type)).not.toContain('STARTED');
  for (const e of laterEvents.filter((e) => e.type === 'UNASSIGNED')) {
    expect(['worker w-term stopping', 'claim not delivered']).toContain(e.msg);
  }
  await client.cancelRun(later.id);
}, 60_000);

describe('GPUs (no GPU and no NVIDIA runtime here: what the engine is asked for, and a clean failure)', () => {
  it('asks the engine for the assigned GPUs as an NVIDIA device request', async () => {
    const op = {
      id: 'run_gpuspec',
      attempt: 2,
      image: IMAGE,
      inputs: { prompt: 'a cat', steps: 20 },
      constraints: { cpu_cores: 1.5, ram_mb: 256, gpu_count: 2 },
      gpu_ids: [1, 3],
    };
    const container = await docker.createContainer(containerSpec(op, 'w-spec', 'none'));
    try {
      const info = await container.inspect();
      expect(info.HostConfig.DeviceRequests).toEqual([
        expect.objectContaining({ Driver: 'nvidia', DeviceIDs: ['1', '3'], Capabilities: [['gpu']] }),
      ]);
      expect(info.HostConfig).toMatchObject({
        NanoCpus: 1.5e9,
        Memory: 256 * 1024 * 1024,
        MemorySwap: 256 * 1024 * 1024,
        NetworkMode: 'none',
      });
      expect(info.Config.Env).toEqual(
        expect.arrayContaining([
          'NVIDIA_VISIBLE_DEVICES=1,3',
          'GYOZA_RUN_ID=run_gpuspec',
          'GYOZA_ATTEMPT=2',
          'GYOZA_INPUTS={"prompt":"a cat","steps":20}',
          'GYOZA_INPUT_PROMPT=a cat',
          'GYOZA_INPUT_STEPS=20',
        ]),
      );
      expect(info.Config.Labels).toMatchObject({ [LABELS.run]: 'run_gpuspec', [LABELS.worker]: 'w-spec' });
    } finally {
      await container.remove({ force: true });
    }
  });

  it('fails a GPU run clearly when the engine cannot provide GPUs, and leaves nothing behind', async () => {
    await agents.start('w-gpu', {
      resources: { cpu_cores: 2, ram_mb: 2048, gpus: [{ id: 0, vram_mb: 8192, tags: [] }] },
    });
    const run = await submit('echo never', { vram_mb: 4096, gpu_count: 1 });
    const done = await inState(run.id, 'COMPLETED', 'FAILED');
    expect(done).toMatchObject({ state: 'FAILED', worker_id: 'w-gpu', gpu_ids: [0] });
    expect(done.error_message).toMatch(/^worker could not run the container: .*(nvidia|device driver)/i);
    const started = (await eventsOf(run.id)).find((e) => e.type === 'STARTED');
    expect(started?.payload).toMatchObject({ worker_id: 'w-gpu', gpu_id: 0 });
    expect(await containersOf('w-gpu')).toEqual([]);
  });
});
