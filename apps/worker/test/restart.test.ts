import { GyozaClient } from '@gyoza/client';
import { API_KEY, type Harness, startHarness } from '@gyoza/test-support/api-harness';
import Docker from 'dockerode';
import pino from 'pino';
import { WorkerAgent } from '../src';

// An agent restarting under the id of one that died holding runs: its start settles them
// through reconciliation, without waiting for the worker timeout (60 s here).
let harness: Harness;
let client: GyozaClient;
let agent: WorkerAgent | undefined;

beforeAll(async () => {
  harness = await startHarness({ manualClock: false, startScheduler: true });
  client = new GyozaClient({ baseUrl: harness.url, apiKey: API_KEY, retries: 0 });
});

afterEach(async () => {
  await agent?.stop(1000);
});

afterAll(async () => {
  await harness.close();
});

it('on start, reports that it runs nothing and lets reconciliation take back the runs its predecessor held', async () => {
  const id = 'w-restart';
  // Runs only the predecessor (tagged) can take, so the new agent does not claim them again.
  const constraints = { cpu_cores: 0.1, worker_tags: ['predecessor'] };
  const retry_policy = { max_attempts: 2 };
  await client.createRun({ image: 'busybox', constraints, retry_policy });
  await client.createRun({ image: 'busybox', constraints, retry_policy });
  const resources = { cpu_cores: 2, ram_mb: 1024, gpus: [] };
  await client.heartbeat({ worker_id: id, resources, tags: ['predecessor'] });
  // Both claims come after the predecessor's last heartbeat; it dies before its next one.
  const [started, assigned] = await client.claim(id, { limit: 2 });
  await client.postEvent(started.id, {
    type: 'STARTED',
    attempt: started.attempt,
    worker_id: id,
    assignment_id: started.assignment_id,
  });

  agent = new WorkerAgent({
    client,
    id,
    docker: new Docker(),
    heartbeatIntervalMs: 60_000,
    resources: { cpu_cores: 1, ram_mb: 256, gpus: [] },
    logger: pino({ level: 'silent' }),
  });
  await agent.start();

  // Settled by the time start() resolves: nothing is ASSIGNED or RUNNING on the old attempts.
  const held = await client.listRuns({ worker_id: id, state: ['ASSIGNED', 'RUNNING'] });
  expect(held.runs).toEqual([]);
  const back = await client.getRun(assigned.id);
  expect(back).toMatchObject({ state: 'PENDING', current_attempt: 1 });
  const lost = await client.getRun(started.id);
  expect(lost.attempts[0]).toMatchObject({
    state: 'FAILED',
    error_message: `worker ${id} did not list the run in its heartbeat`,
  });

  // A late report from the predecessor on either run is refused.
  await expect(
    client.postEvent(assigned.id, { type: 'STARTED', worker_id: id, assignment_id: assigned.assignment_id }),
  ).rejects.toMatchObject({ code: 'STALE_ASSIGNMENT' });
});
