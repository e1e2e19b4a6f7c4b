import { execFileSync } from 'node:child_process';
import type { GyozaClient, RunJson } from '@gyoza/client';
import { commitBusyboxImage, SCRIPT_CMD, waitFor } from '@gyoza/test-support';
import type { Harness } from '@gyoza/test-support/api-harness';
import { eventsOf as allEvents, docker, logLines, startLiveServer, TestAgents } from '../test/agents';

// What an op may do within the container contract (docs/worker.md) and still be reported as
// it ended: write long lines and many of them, fail after long lines, take large inputs, run
// as a user other than root. A real server, agent and Docker engine; the op is a shell script.
const IMAGE = 'gyoza-contract-sh:latest';
const USER_IMAGE = 'gyoza-contract-user:latest';
const KEY = 'op-contract-key';

let server: Harness;
let client: GyozaClient;
const agents = new TestAgents(() => ({ client, resources: { cpu_cores: 2, ram_mb: 2048, gpus: [] } }));

beforeAll(async () => {
  commitBusyboxImage(IMAGE, SCRIPT_CMD);
  // The same op as user 1000: an image whose USER is not root.
  const base = execFileSync('docker', ['create', IMAGE], { encoding: 'utf8' }).trim();
  try {
    execFileSync('docker', ['commit', '--change', 'USER 1000', base, USER_IMAGE], { stdio: 'ignore' });
  } finally {
    execFileSync('docker', ['rm', base], { stdio: 'ignore' });
  }
  ({ server, client } = await startLiveServer(KEY, 30));
});

afterEach(() => agents.stopAll());

afterAll(() => server.close());

async function submit(script: string, options: { image?: string; inputs?: Record<string, unknown> } = {}) {
  return client.createRun({
    image: options.image ?? IMAGE,
    inputs: { script, ...options.inputs },
    constraints: { cpu_cores: 1, ram_mb: 128 },
    retry_policy: { max_attempts: 3, backoff_seconds: 0 },
  });
}

/** The run once it is final; as it is after 90 s otherwise, for the test to say what it found. */
const finished = (id: string): Promise<RunJson> =>
  waitFor(
    `${id} finished`,
    async () => {
      const run = await client.getRun(id);
      return ['COMPLETED', 'FAILED', 'CANCELLED'].includes(run.state) && !run.not_before ? run : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 250 },
  ).catch(() => client.getRun(id));

const eventsOf = (runId: string) => allEvents(client, runId);

it('reports an op that writes a 1.2 MB line and 20,000 lines of 1 KB: the long line cut, all lines, COMPLETED on attempt 1', async () => {
  await agents.start('w-contract-lines');
  const run = await submit(
    [
      "head -c 1200000 /dev/zero | tr '\\0' a; echo",
      'yes "$(head -c 1000 /dev/zero | tr \'\\0\' b)" | head -n 20000',
      'echo \'{"done": true}\' > /gyoza/outputs.json',
    ].join('; '),
  );
  const done = await finished(run.id);
  expect(done).toMatchObject({ state: 'COMPLETED', current_attempt: 1, outputs: { done: true } });
  const lines = logLines(await eventsOf(run.id));
  expect(lines[0]).toMatch(/^a{16000,} \[gyoza\] … \d+ characters cut$/);
  expect(lines.filter((line) => line === 'b'.repeat(1000))).toHaveLength(20_000);
}, 180_000);

it('reports outputs the server refuses (12,001 keys) as FAILED with its reason, not retried', async () => {
  await agents.start('w-contract-outputs');
  const run = await submit(
    'awk \'BEGIN { printf "{"; for (i = 0; i < 12001; i++) printf "%s\\"k%d\\": %d", (i ? ", " : ""), i, i; printf "}" }\' > /gyoza/outputs.json',
  );
  const done = await finished(run.id);
  expect(done).toMatchObject({ state: 'FAILED', current_attempt: 1 });
  expect(done.error_message).toMatch(/^the server refused the outputs: /);
  expect((await eventsOf(run.id)).map((e) => e.type)).not.toContain('WORKER_LOST');
}, 120_000);

it('fits a failure after long lines into one FAILED event: exit code and the last lines, cut', async () => {
  await agents.start('w-contract-tail');
  const run = await submit(
    "i=0; while [ $i -lt 25 ]; do head -c 20000 /dev/zero | tr '\\0' c; echo; i=$((i+1)); done; exit 7",
  );
  const done = await finished(run.id);
  expect(done).toMatchObject({ state: 'FAILED', current_attempt: 3 }); // an exit code is retried
  expect(done.error_message).toMatch(/^exit code 7\nlast lines:\nc{900,} \[gyoza\] … \d+ characters cut\n/);
  expect(done.error_message?.length).toBeLessThanOrEqual(65_536);
}, 180_000);

it('lets an image that runs as user 1000 write /gyoza/outputs.json', async () => {
  await agents.start('w-contract-user');
  const run = await submit('id -u; echo \'{"user": "not root"}\' > /gyoza/outputs.json', { image: USER_IMAGE });
  const done = await finished(run.id);
  expect(done).toMatchObject({ state: 'COMPLETED', current_attempt: 1, outputs: { user: 'not root' } });
  expect(logLines(await eventsOf(run.id))).toContain('1000');
}, 120_000);

it('starts an op whose inputs are too large for the environment: they are in /gyoza/inputs.json', async () => {
  await agents.start('w-contract-inputs');
  const blob = 'z'.repeat(200_000);
  const run = await submit(
    'echo "env: $(printenv GYOZA_INPUTS | wc -c) $(printenv GYOZA_INPUT_BLOB | wc -c)"; echo "file: $(grep -c zzzz /gyoza/inputs.json) $(wc -c < /gyoza/inputs.json)"',
    { inputs: { blob } },
  );
  const done = await finished(run.id);
  expect(done).toMatchObject({ state: 'COMPLETED', current_attempt: 1 });
  const lines = logLines(await eventsOf(run.id));
  expect(lines).toContain('env: 0 0');
  expect(lines.find((line) => line.startsWith('file: '))).toMatch(/^file: 1 2\d{5}$/);
}, 120_000);

it('fails a run whose image reference is invalid for good, with the engine reason and no HTTP prefix', async () => {
  await agents.start('w-contract-badref');
  const run = await submit('true', { image: 'Gyoza-Contract-Sh:latest' });
  const done = await finished(run.id);
  expect(done).toMatchObject({ state: 'FAILED', current_attempt: 1 });
  expect(done.error_message).toBe(
    'cannot use image Gyoza-Contract-Sh:latest: invalid reference format: repository name must be lowercase',
  );
  const failed = (await eventsOf(run.id)).find((e) => e.type === 'FAILED');
  expect(failed?.payload).toMatchObject({ retryable: false });
}, 120_000);

/** The op of these: says it is ready, then works until SIGTERM, which it traps to save its work and exit. */
const TRAPS_TERM = 'trap \'echo "got TERM, saving"; exit 0\' TERM; echo ready; while true; do sleep 0.2; done';

const saidReady = (id: string) =>
  waitFor('the op ready', async () => logLines(await eventsOf(id)).includes('ready') || undefined, {
    timeoutMs: 60_000,
  });

it('stops a cancelled op with SIGTERM first, so it can exit by itself before the kill timeout', async () => {
  await agents.start('w-contract-cancel', { killTimeoutMs: 60_000 });
  const run = await submit(TRAPS_TERM);
  await saidReady(run.id);
  const stream = (await docker.getEvents({
    filters: { type: ['container'], label: [`gyoza.run_id=${run.id}`] },
  })) as NodeJS.ReadableStream & { destroy(): void };
  const seen: Array<{ Action: string; Actor: { Attributes: Record<string, string> } }> = [];
  const destroyed = new Promise<void>((resolve) => {
    stream.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        const event = JSON.parse(line);
        seen.push(event);
        if (event.Action === 'destroy') resolve();
      }
    });
  });
  const at = Date.now();
  await client.cancelRun(run.id);
  await destroyed;
  stream.destroy();
  expect(Date.now() - at).toBeLessThan(30_000); // it exited on SIGTERM, not at the kill timeout
  const kills = seen.filter((e) => e.Action === 'kill').map((e) => e.Actor.Attributes.signal);
  expect(kills[0]).toBe('15');
  expect(kills).not.toContain('9');
  expect(seen.find((e) => e.Action === 'die')?.Actor.Attributes.exitCode).toBe('0');
  expect((await client.getRun(run.id)).state).toBe('CANCELLED');
}, 120_000);

it('stops the ops still running at shutdown with SIGTERM: their last lines are reported, then FAILED', async () => {
  const worker = await agents.start('w-contract-shutdown', { killTimeoutMs: 60_000 });
  const run = await submit(TRAPS_TERM);
  await saidReady(run.id);
  await worker.stop(0);
  const events = await eventsOf(run.id);
  expect(logLines(events)).toContain('got TERM, saving');
  const failed = events.findIndex((e) => e.type === 'FAILED');
  expect(events[failed]?.payload).toMatchObject({ error_message: 'worker shutting down' });
  expect(events.findIndex((e) => e.type === 'LOG' && String(e.msg).includes('got TERM'))).toBeLessThan(failed);
}, 120_000);

it('waits at shutdown for the stop a cancel began: no container outlives the agent', async () => {
  // A kill timeout longer than the wait for reports at shutdown (what the stop used to wait).
  const worker = await agents.start('w-contract-cancel-shutdown', { killTimeoutMs: 5000, reportTimeoutMs: 1000 });
  // Ignores SIGTERM: only the kill at the end of the kill timeout ends it.
  const run = await submit("trap '' TERM; echo ready; while true; do sleep 0.2; done");
  await saidReady(run.id);
  const stream = (await docker.getEvents({
    filters: { type: ['container'], label: [`gyoza.run_id=${run.id}`], event: ['kill'] },
  })) as NodeJS.ReadableStream & { destroy(): void };
  const termSent = new Promise<void>((resolve) => stream.once('data', () => resolve()));
  await client.cancelRun(run.id);
  // The agent has begun stopping the container (SIGTERM sent; the op ignores it).
  await termSent;
  stream.destroy();
  await worker.stop(0);
  // Before: stop returned while the op sat in its SIGTERM grace, and the container was left.
  const left = await docker.listContainers({ all: true, filters: { label: [`gyoza.run_id=${run.id}`] } });
  expect(left).toEqual([]);
}, 120_000);
