import type { GyozaClient } from '@gyoza/client';
import { commitBusyboxImage, SCRIPT_CMD, waitFor } from '@gyoza/test-support';
import type { Harness } from '@gyoza/test-support/api-harness';
import { containerSpec, HARDENING_DEFAULTS, LABELS, type RunningWorker, type WorkerOptions } from '../src';
import { docker, startLiveServer, TestAgents } from './agents';

// The op's container as the engine made it, inspected while it runs.
const IMAGE = 'gyoza-hardening-sh:latest';
const KEY = 'hardening-test-key';
let server: Harness;
let client: GyozaClient;
const agents = new TestAgents(() => ({ client, resources: { cpu_cores: 2, ram_mb: 2048, gpus: [] } }));

beforeAll(async () => {
  commitBusyboxImage(IMAGE, SCRIPT_CMD);
  ({ server, client } = await startLiveServer(KEY, 5));
});

afterEach(() => agents.stopAll());

afterAll(() => server.close());

const agent = (id: string, options: WorkerOptions = {}): Promise<RunningWorker> => agents.start(id, options);

/** Starts a run that prints what it sees of its limits and then waits; answers its container's inspection. */
async function inspectRunning(constraints: Record<string, number>) {
  const script = 'grep NoNewPrivs /proc/self/status; cat /proc/1/comm; df -m /dev/shm | tail -1; sleep 60';
  const run = await client.createRun({
    image: IMAGE,
    inputs: { script },
    constraints: { cpu_cores: 1, ram_mb: 64, ...constraints },
    retry_policy: { max_attempts: 1, backoff_seconds: 0 },
  });
  const info = await waitFor(
    `${run.id}'s container`,
    async () => {
      if ((await client.getRun(run.id)).state !== 'RUNNING') return undefined;
      const [found] = await docker.listContainers({ filters: { label: [`${LABELS.run}=${run.id}`] } });
      return found ? docker.getContainer(found.Id).inspect() : undefined;
    },
    { timeoutMs: 60_000 },
  );
  const lines = await waitFor(
    `${run.id}'s output`,
    async () => {
      const logs = (await client.listEvents(run.id)).events.filter((e) => e.type === 'LOG').map((e) => String(e.msg));
      const text = logs.join('\n');
      return text.includes('/dev/shm') ? text : undefined;
    },
    { timeoutMs: 30_000 },
  );
  await client.cancelRun(run.id);
  return { info, lines };
}

it('runs op containers hardened by default: no-new-privileges, a PIDs limit, capped logs, an init, the shm size asked for', async () => {
  await agent('w-hardened');
  const { info, lines } = await inspectRunning({ shm_size_mb: 256 });
  expect(info.HostConfig).toMatchObject({
    ShmSize: 256 * 1024 * 1024,
    PidsLimit: 4096,
    SecurityOpt: ['no-new-privileges'],
    Init: true,
    LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } },
  });
  // What the op itself sees.
  expect(lines).toMatch(/NoNewPrivs:\s+1/);
  expect(lines).toContain('docker-init');
  expect(lines).toMatch(/shm\s+256\s/);
}, 90_000);

it('lists the images its engine holds in its heartbeat', async () => {
  await agent('w-images');
  const listed = await waitFor(
    'the worker images',
    async () => (await client.listWorkers()).find((w) => w.id === 'w-images')?.images,
    { timeoutMs: 30_000 },
  );
  expect(listed).toContain(IMAGE);
  expect(listed.length).toBeLessThanOrEqual(200);
}, 60_000);

it('relaxes what the worker is told to: privilege escalation, PIDs limit, init, log size', async () => {
  await agent('w-relaxed', {
    hardening: { allowPrivilegeEscalation: true, pidsLimit: 0, init: false, logMaxSizeMb: 50, logMaxFiles: 1 },
  });
  const { info, lines } = await inspectRunning({});
  expect(info.HostConfig.SecurityOpt ?? []).not.toContain('no-new-privileges');
  expect(info.HostConfig.PidsLimit ?? 0).toBeLessThanOrEqual(0);
  expect(info.HostConfig.Init ?? false).toBe(false);
  expect(info.HostConfig.LogConfig).toMatchObject({ Config: { 'max-size': '50m', 'max-file': '1' } });
  expect(lines).toMatch(/NoNewPrivs:\s+0/);
  // Docker's own /dev/shm when the run asks for none.
  expect(lines).toMatch(/shm\s+64\s/);
}, 90_000);

it('asks for no ShmSize unless the run sets one, and documents its defaults', () => {
  const op = {
    id: 'run_x',
    attempt: 1,
    image: 'x',
    inputs: {},
    constraints: { cpu_cores: 0, ram_mb: 0, gpu_count: 0 },
    gpu_ids: [],
  };
  expect(containerSpec(op, 'w', 'none').HostConfig).not.toHaveProperty('ShmSize');
  expect(HARDENING_DEFAULTS).toEqual({
    allowPrivilegeEscalation: false,
    pidsLimit: 4096,
    logMaxSizeMb: 10,
    logMaxFiles: 3,
    init: true,
  });
});
