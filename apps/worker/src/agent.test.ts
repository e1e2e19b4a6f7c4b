import { rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { GyozaClient } from '@gyoza/client';
import { heldRunsDigest } from '@gyoza/domain';
import { commitBusyboxImage, freePort, waitFor } from '@gyoza/test-support';
import { API_KEY, type Harness, startHarness } from '@gyoza/test-support/api-harness';
import Docker from 'dockerode';
import pino from 'pino';
import { finished as finishedRun } from '../test/agents';
import { WorkerAgent } from './agent';
import { type AgentState, AgentStateError } from './agent-state';
import { WorkerOptionError, type WorkerOptions } from './worker-options';

// The agent's states against a real server and the real Docker engine; no op runs here
// (running ops is tested end to end in ../test/worker.test.ts).
const docker = new Docker();
let harness: Harness;
let client: GyozaClient;
const agents: WorkerAgent[] = [];

beforeAll(async () => {
  harness = await startHarness({ manualClock: false, startScheduler: true });
  client = new GyozaClient({ baseUrl: harness.url, apiKey: API_KEY, retries: 0 });
});

afterEach(async () => {
  for (const agent of agents.splice(0)) await agent.stop(1000);
});

afterAll(async () => {
  await harness.close();
});

/** An agent whose state changes, as logged, are collected in `changes`, and its log records (debug and up) in `records`. */
function agentLogged(id: string, options: WorkerOptions = {}) {
  const changes: Array<[AgentState, AgentState]> = [];
  const records: Array<{ msg: string; level: number }> = [];
  const logger = pino(
    { level: 'debug' },
    {
      write(line: string) {
        const record = JSON.parse(line);
        records.push(record);
        if (record.from && record.to) changes.push([record.from, record.to]);
      },
    },
  );
  const agent = new WorkerAgent({
    client,
    id,
    docker,
    heartbeatIntervalMs: 200,
    claimWaitSeconds: 1,
    resources: { cpu_cores: 1, ram_mb: 256, gpus: [] },
    logger,
    ...options,
  });
  agents.push(agent);
  return { agent, changes, records };
}

const registered = async (id: string) => (await client.listWorkers()).some((w) => w.id === id);

it('goes created, starting, running, draining, stopped, and logs each change', async () => {
  const { agent, changes } = agentLogged('w-states');
  expect(agent.state).toBe('created');
  const started = agent.start();
  expect(agent.state).toBe('starting');
  await started;
  expect(agent.state).toBe('running');
  expect(await registered('w-states')).toBe(true);
  const stopped = agent.stop(1000);
  expect(agent.state).toBe('draining');
  await stopped;
  expect(agent.state).toBe('stopped');
  expect(changes).toEqual([
    ['created', 'starting'],
    ['starting', 'running'],
    ['running', 'draining'],
    ['draining', 'stopped'],
  ]);
});

it('gives up starting when stopped while starting: never registers, never claims, start() resolves', async () => {
  const pending = await client.createRun({ image: 'gyoza-busybox:latest', constraints: { cpu_cores: 1, ram_mb: 64 } });
  const { agent, changes } = agentLogged('w-early-stop');
  const started = agent.start();
  const stopped = agent.stop(1000);
  expect(agent.state).toBe('draining');
  await Promise.all([started, stopped]);
  expect(agent.state).toBe('stopped');
  expect(changes).toEqual([
    ['created', 'starting'],
    ['starting', 'draining'],
    ['draining', 'stopped'],
  ]);
  expect(await registered('w-early-stop')).toBe(false);
  expect((await client.getRun(pending.id)).state).toBe('PENDING');
  await client.cancelRun(pending.id);
});

it('stops once when stop() is called twice: both calls end when the agent is stopped', async () => {
  const { agent, changes } = agentLogged('w-twice');
  await agent.start();
  const first = agent.stop(1000);
  const second = agent.stop(5);
  await second;
  expect(agent.state).toBe('stopped');
  await first;
  await agent.stop();
  expect(changes.filter(([, to]) => to === 'stopped')).toHaveLength(1);
});

it('drains at once: stop() aborts the pending long-poll claim instead of waiting it out', async () => {
  const { agent } = agentLogged('w-long-poll', { claimWaitSeconds: 30 });
  await agent.start();
  const at = Date.now();
  await agent.stop(1000);
  expect(Date.now() - at).toBeLessThan(10_000);
  expect(agent.state).toBe('stopped');
});

it('refuses start() once started or stopped, and the refusal changes nothing', async () => {
  const { agent, changes } = agentLogged('w-restart');
  await agent.start();
  await expect(agent.start()).rejects.toThrow(AgentStateError);
  expect(agent.state).toBe('running');
  await agent.stop(1000);
  const refusal = agent.start();
  await expect(refusal).rejects.toThrow(AgentStateError);
  await expect(refusal).rejects.toMatchObject({ from: 'stopped', to: 'starting' });
  expect(agent.state).toBe('stopped');
  expect(changes).toHaveLength(4);
});

it('stops without contacting the server when stop() comes before start()', async () => {
  const { agent, changes } = agentLogged('w-never');
  await agent.stop();
  expect(agent.state).toBe('stopped');
  expect(changes).toEqual([['created', 'stopped']]);
  expect(await registered('w-never')).toBe(false);
  await expect(agent.start()).rejects.toThrow(AgentStateError);
});

it('ends stopped when its start fails (no server answers): start() rejects, stop() resolves', async () => {
  const nowhere = new GyozaClient({ baseUrl: `http://127.0.0.1:${await freePort()}`, apiKey: API_KEY, retries: 0 });
  const { agent, changes } = agentLogged('w-no-server', { client: nowhere });
  await expect(agent.start()).rejects.toThrow();
  expect(agent.state).toBe('stopped');
  await agent.stop(1000);
  expect(changes).toEqual([
    ['created', 'starting'],
    ['starting', 'stopped'],
  ]);
});

it.each([
  ['maxParallel', 0],
  ['maxParallel', -1],
  ['maxParallel', 2.5],
  ['heartbeatIntervalMs', 0],
  ['heartbeatIntervalMs', -5],
  ['killTimeoutMs', -1],
] as const)('refuses %s %d with an error naming the option, before contacting anything', (option, value) => {
  const create = () => new WorkerAgent({ client, id: 'w-bad-option', docker, [option]: value });
  expect(create).toThrow(WorkerOptionError);
  expect(create).toThrow(expect.objectContaining({ option, message: expect.stringContaining(option) }));
});

/** A client whose long-poll claim outlives stop()'s abort, so its answer lands while draining. */
class LateClaimClient extends GyozaClient {
  /** Resolves when a claim is waiting on the server. */
  readonly claimWaiting: Promise<void>;
  private signalWaiting!: () => void;

  constructor(private readonly answerLost: boolean) {
    super({ baseUrl: harness.url, apiKey: API_KEY, retries: 0 });
    this.claimWaiting = new Promise((resolve) => {
      this.signalWaiting = resolve;
    });
  }

  override async claim(workerId: string, options: Parameters<GyozaClient['claim']>[1] = {}) {
    this.signalWaiting();
    const ops = await super.claim(workerId, { ...options, signal: undefined });
    // As if the abort had dropped the connection after the server answered.
    if (this.answerLost && options.signal?.aborted) throw new Error('claim answer lost');
    return ops;
  }
}

it.each([
  ['answered to a draining agent', false],
  ['whose answer the stop lost', true],
])(
  'releases a run claimed %s: PENDING at once with the reason, never started',
  async (_case, answerLost) => {
    const late = new LateClaimClient(answerLost);
    const id = answerLost ? 'w-release-lost' : 'w-release';
    const { agent } = agentLogged(id, { client: late, claimWaitSeconds: 20 });
    await agent.start();
    await late.claimWaiting;
    const stopped = agent.stop(1000);
    expect(agent.state).toBe('draining');
    const run = await client.createRun({ image: 'gyoza-busybox:latest', constraints: { cpu_cores: 1, ram_mb: 64 } });
    await stopped;
    const after = await client.getRun(run.id);
    expect(after).toMatchObject({ state: 'PENDING', current_attempt: 1 });
    expect(after.worker_id).toBeUndefined();
    const { events } = await client.listEvents(run.id);
    expect(events.map((e) => e.type)).toEqual(['CREATED', 'ASSIGNED', 'UNASSIGNED']);
    expect(events[2]).toMatchObject({ msg: `worker ${id} stopping`, payload: { worker_id: id, released: true } });
    await client.cancelRun(run.id);
  },
  40_000,
);

/** Records the body of every heartbeat the agent sends; its claims get nothing (they wait until aborted). */
class RecordingClient extends GyozaClient {
  readonly beats: Array<{ running_ops?: unknown[]; held_digest?: string }> = [];

  constructor() {
    super({ baseUrl: harness.url, apiKey: API_KEY, retries: 0 });
  }

  override heartbeat(body: Parameters<GyozaClient['heartbeat']>[0]) {
    this.beats.push({ running_ops: body.running_ops, held_digest: body.held_digest });
    return super.heartbeat(body);
  }

  override claim(_workerId: string, options: Parameters<GyozaClient['claim']>[1] = {}) {
    return new Promise<Awaited<ReturnType<GyozaClient['claim']>>>((resolve) => {
      options.signal?.addEventListener('abort', () => resolve([]), { once: true });
    });
  }
}

it('heartbeats with its held digest, lists its runs when the server holds others, and so settles them', async () => {
  const recording = new RecordingClient();
  // Its claims get nothing, so a run the server gives this id is not the agent's.
  const { agent } = agentLogged('w-digest', { client: recording });
  await agent.start();
  expect(recording.beats[0]).toEqual({ running_ops: [], held_digest: undefined });
  const byDigest = async () => recording.beats.some((b) => b.held_digest === heldRunsDigest([])) || undefined;
  await waitFor('a heartbeat with a held digest', byDigest);

  const run = await client.createRun({ image: 'gyoza-busybox:latest', constraints: { cpu_cores: 1, ram_mb: 64 } });
  const [claimed] = await harness.scheduler.claim('w-digest');
  expect(claimed?.id).toBe(run.id);
  const from = recording.beats.length;
  await waitFor('the run taken back', async () => (await client.getRun(run.id)).state === 'PENDING' || undefined);
  // A digest that differed, then the list that settled it.
  const after = recording.beats.slice(from);
  const listed = after.findIndex((b) => b.running_ops !== undefined);
  expect(listed).toBeGreaterThan(0);
  expect(after[listed]).toEqual({ running_ops: [], held_digest: undefined });
  expect(after[listed - 1]?.held_digest).toBe(heldRunsDigest([]));
  await client.cancelRun(run.id);
}, 40_000);

/**
 * A unix socket in front of the real Docker engine's: `close()` takes it away, connections and
 * all (as an engine restart does), `open()` brings it back at the same path.
 */
class EngineSocket {
  readonly docker: Docker;
  private server?: Server;
  private readonly connections = new Set<Socket>();

  constructor(readonly path: string) {
    this.docker = new Docker({ socketPath: path });
  }

  async open(): Promise<void> {
    const engine = process.env.DOCKER_HOST?.startsWith('unix://')
      ? process.env.DOCKER_HOST.slice('unix://'.length)
      : '/var/run/docker.sock';
    rmSync(this.path, { force: true });
    const server = createServer((client) => {
      const upstream = createConnection({ path: engine });
      for (const socket of [client, upstream]) {
        this.connections.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => this.connections.delete(socket));
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.path, resolve));
    this.server = server;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = new Promise((resolve) => server.close(resolve));
    for (const socket of this.connections) socket.destroy();
    await closed;
    rmSync(this.path, { force: true });
  }
}

/** A client that says when each claim is waiting on the server. */
class ClaimWatchingClient extends GyozaClient {
  private waiting: Array<() => void> = [];

  constructor() {
    super({ baseUrl: harness.url, apiKey: API_KEY, retries: 0 });
  }

  /** Resolves when the next claim is sent. */
  nextClaim(): Promise<void> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  override claim(workerId: string, options: Parameters<GyozaClient['claim']>[1] = {}) {
    for (const resolve of this.waiting.splice(0)) resolve();
    return super.claim(workerId, options);
  }
}

describe('with its Docker engine away', () => {
  let engine: EngineSocket;

  beforeAll(() => commitBusyboxImage('gyoza-agent-true:latest', ['true']));

  beforeEach(async () => {
    engine = new EngineSocket(join(harness.dir, `engine-${Date.now()}.sock`));
    await engine.open();
  });

  afterEach(() => engine.close());

  const sh = (maxAttempts: number) =>
    client.createRun({
      image: 'gyoza-agent-true:latest',
      constraints: { cpu_cores: 0.1, ram_mb: 16 },
      retry_policy: { max_attempts: maxAttempts, backoff_seconds: 0 },
    });
  const finished = (id: string) => finishedRun(client, id);

  it('claims nothing until the engine answers again, then runs the runs on their first attempt', async () => {
    const { agent, records } = agentLogged('w-engine-away', { docker: engine.docker });
    await agent.start();
    await engine.close();
    const runs = [await sh(3), await sh(3)];
    const retries = () => records.filter((r) => r.msg === 'the Docker engine still does not answer').length;
    const from = retries();
    // Until the agent has found the engine away twice more, or (as it did before) took a run.
    const anyTaken = async () => {
      for (const run of runs) if ((await client.getRun(run.id)).state !== 'PENDING') return true;
      return false;
    };
    await waitFor(
      'the agent to find the engine away twice more',
      async () => retries() >= from + 2 || (await anyTaken()) || undefined,
      {
        timeoutMs: 60_000,
      },
    );
    for (const run of runs) {
      const now = await client.getRun(run.id);
      expect(now).toMatchObject({ state: 'PENDING', current_attempt: 1 });
      const types = (await client.listEvents(run.id)).events.map((e) => e.type);
      expect(types).not.toContain('STARTED');
      expect(types).not.toContain('FAILED');
    }
    expect(records.filter((r) => r.msg.startsWith('the Docker engine does not answer'))).toHaveLength(1); // once
    await engine.open();
    for (const run of runs) expect(await finished(run.id)).toMatchObject({ state: 'COMPLETED', current_attempt: 1 });
  }, 120_000);

  it('hands back a run it claimed as the engine went away, instead of failing it', async () => {
    const watching = new ClaimWatchingClient();
    const { agent } = agentLogged('w-engine-gone', { client: watching, docker: engine.docker, claimWaitSeconds: 20 });
    const claimed = watching.nextClaim();
    await agent.start();
    await claimed;
    await engine.close();
    const run = await sh(3);
    const released = await waitFor(
      'the run handed back',
      async () => (await client.listEvents(run.id)).events.find((e) => e.type === 'UNASSIGNED'),
      { timeoutMs: 60_000 },
    );
    expect(released.msg).toMatch(/^worker w-engine-gone cannot reach its Docker engine: /);
    expect(released.payload).toMatchObject({ released: true });
    expect(await client.getRun(run.id)).toMatchObject({ current_attempt: 1 });
    await engine.open();
    expect(await finished(run.id)).toMatchObject({ state: 'COMPLETED', current_attempt: 1 });
  }, 120_000);
});
