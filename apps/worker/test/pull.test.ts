import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { GyozaClient, RunJson } from '@gyoza/client';
import { commitBusyboxImage, temporaryDirectory, waitFor } from '@gyoza/test-support';
import type { Harness } from '@gyoza/test-support/api-harness';
import { removeLocalImage, TestRegistry } from '@gyoza/test-support/registry';
import Docker from 'dockerode';
import type { RunningWorker, WorkerOptions } from '../src';
import { finished as finishedRun, startLiveServer, TestAgents } from './agents';

// Pulls from a real OCI registry on loopback (scripts/install-registry.sh), as a fleet does.
const KEY = 'pull-test-key';
const CREDENTIALS = { username: 'gyoza', password: 's3cret-pull' };
let server: Harness;
let client: GyozaClient;
let open: TestRegistry;
let locked: TestRegistry;
const scratch = temporaryDirectory('gyoza-pull-');
let tag = 0;
const agents = new TestAgents(() => ({
  client,
  resources: { cpu_cores: 4, ram_mb: 2048, gpus: [] },
  // No credentials from this machine's own Docker config.
  registryAuthFile: join(scratch.dir, 'none.json'),
}));

/** gyoza-busybox with a command that succeeds, the image pushed to the registries. */
const SOURCE = 'gyoza-pull-source:latest';

beforeAll(async () => {
  commitBusyboxImage(SOURCE, ['true']);
  ({ server, client } = await startLiveServer(KEY, 5));
  open = await TestRegistry.open();
  locked = await TestRegistry.open({ credentials: CREDENTIALS });
}, 60_000);

afterEach(() => agents.stopAll());

afterAll(async () => {
  await server.close();
  await open.close();
  await locked.close();
  scratch.remove();
});

/**
 * Pushes the test image under a fresh name, so the engine does not have it; `ownLayer` adds a
 * layer of random bytes the engine has nowhere else, so the pull downloads (and reports) it.
 */
async function pushed(registry: TestRegistry, ownLayer = false): Promise<string> {
  tag += 1;
  let source = SOURCE;
  if (ownLayer) {
    const blob = execFileSync('docker', ['create', SOURCE, 'sh', '-c', 'head -c 4000000 /dev/urandom > /blob'], {
      encoding: 'utf8',
    }).trim();
    execFileSync('docker', ['start', '-a', blob], { stdio: 'ignore' });
    source = `gyoza-pull-layer-${process.pid}-${tag}:1`;
    execFileSync('docker', ['commit', '--change', 'CMD ["true"]', blob, source], { stdio: 'ignore' });
    execFileSync('docker', ['rm', blob], { stdio: 'ignore' });
  }
  const reference = await registry.push(source, `gyoza/pull-${process.pid}-${tag}:1`);
  await removeLocalImage(reference);
  if (ownLayer) await removeLocalImage(source);
  return reference;
}

const agent = (id: string, options: WorkerOptions = {}): Promise<RunningWorker> => agents.start(id, options);

const noAuths = () => writeFileSync(join(scratch.dir, 'none.json'), '{"auths":{}}');

function submit(image: string, maxAttempts = 1, backoffSeconds = 0): Promise<RunJson> {
  return client.createRun({
    image,
    inputs: {},
    constraints: { cpu_cores: 1, ram_mb: 64 },
    retry_policy: { max_attempts: maxAttempts, backoff_seconds: backoffSeconds },
  });
}

const finished = (id: string) => finishedRun(client, id);
const eventsOf = async (id: string) => (await client.listEvents(id)).events;

beforeEach(noAuths);

it('pulls a missing image before STARTED, reports its progress, and two runs share one pull', async () => {
  const image = await pushed(open, true);
  const pulls: string[] = [];
  const counting = new Docker();
  const realPull = counting.pull.bind(counting);
  counting.pull = ((ref: string, opts: object) => {
    pulls.push(ref);
    return realPull(ref, opts);
  }) as typeof counting.pull;
  const a = await submit(image);
  const b = await submit(image);
  await agent('w-pull', { docker: counting });
  expect(await finished(a.id)).toMatchObject({ state: 'COMPLETED' });
  expect(await finished(b.id)).toMatchObject({ state: 'COMPLETED' });
  expect(pulls).toEqual([image]);
  const events = await eventsOf(a.id).then(async (ea) => [...ea, ...(await eventsOf(b.id))]);
  const progress = events.filter((e) => e.type === 'INFO' && e.payload?.phase === 'pulling');
  expect(progress.length).toBeGreaterThan(0);
  expect(progress[0]?.msg).toMatch(new RegExp(`^pulling ${image.replace(/[.]/g, '\\.')} \\d+%$`));
  expect(progress[0]?.payload).toMatchObject({
    image,
    total_bytes: expect.any(Number),
    done_bytes: expect.any(Number),
  });
  // Progress comes while the run is ASSIGNED: before STARTED, so the pull is not timed as the attempt.
  const types = (await eventsOf(a.id)).map((e) => e.type);
  if (types.includes('INFO')) expect(types.indexOf('INFO')).toBeLessThan(types.indexOf('STARTED'));
  await removeLocalImage(image);
}, 90_000);

it('fails at once under pull policy never when the image is missing, not retried', async () => {
  const image = await pushed(open);
  const run = await submit(image, 3);
  await agent('w-never', { pullPolicy: 'never' });
  const failed = await finished(run.id);
  expect(failed).toMatchObject({ state: 'FAILED', current_attempt: 1 });
  expect(failed.error_message).toContain('pull policy is never');
  expect((await eventsOf(run.id)).at(-1)?.payload).toMatchObject({ retryable: false });
  expect(
    await new Docker()
      .getImage(image)
      .inspect()
      .catch(() => 'missing'),
  ).toBe('missing');
}, 60_000);

it("uses the run's own pull policy over the worker's default", async () => {
  const image = await pushed(open);
  await agent('w-run-policy', { pullPolicy: 'never' });
  const pulled = await client.createRun({
    image,
    image_pull_policy: 'if-not-present',
    constraints: { cpu_cores: 1, ram_mb: 64 },
    retry_policy: { max_attempts: 1, backoff_seconds: 0 },
  });
  expect(await finished(pulled.id)).toMatchObject({ state: 'COMPLETED', image_pull_policy: 'if-not-present' });
  // The worker's `never` holds for a run without a policy; the image is here now, so it runs.
  const defaulted = await submit(image);
  expect(await finished(defaulted.id)).toMatchObject({ state: 'COMPLETED' });
  await removeLocalImage(image);
  const refused = await submit(image, 3);
  const failed = await finished(refused.id);
  expect(failed).toMatchObject({ state: 'FAILED', current_attempt: 1 });
  expect(failed.error_message).toContain('pull policy is never');
}, 90_000);

it('fails a missing image as permanent (not found), with the reason and no retry', async () => {
  const run = await submit(`${open.host}/gyoza/nothing-here:1`, 3);
  await agent('w-notfound');
  const failed = await finished(run.id);
  expect(failed).toMatchObject({ state: 'FAILED', current_attempt: 1 });
  expect(failed.error_message).toMatch(/cannot pull .*nothing-here.*(not found|manifest unknown)/);
  expect((await eventsOf(run.id)).at(-1)?.payload).toMatchObject({ retryable: false });
}, 60_000);

it('fails a private image without credentials as permanent (unauthorized), and pulls it with a config file', async () => {
  const image = await pushed(locked);
  const refused = await submit(image, 3);
  const w = await agent('w-unauth');
  const failed = await finished(refused.id);
  expect(failed).toMatchObject({ state: 'FAILED', current_attempt: 1 });
  expect(failed.error_message).toMatch(/unauthorized|authentication required|no basic auth/i);
  expect(failed.error_message).not.toContain(CREDENTIALS.password);
  await w.stop(1000);

  const config = join(locked.dockerConfigDir(), 'config.json');
  const allowed = await submit(image);
  await agent('w-auth', { registryAuthFile: config });
  expect(await finished(allowed.id)).toMatchObject({ state: 'COMPLETED' });
  const reported = JSON.stringify(await eventsOf(allowed.id));
  expect(reported).not.toContain(CREDENTIALS.password);
  await removeLocalImage(image);
}, 90_000);

/** A registry on loopback that answers its API check and never a manifest: a pull that hangs. */
async function hangingRegistry() {
  const waiting = new Set<ServerResponse>();
  let manifests = 0;
  const registry = createServer((req, res) => {
    if (req.url === '/v2/' || req.url === '/v2') {
      res.writeHead(200, { 'Docker-Distribution-API-Version': 'registry/2.0', 'content-type': 'application/json' });
      res.end('{}');
      return;
    }
    if (req.url?.includes('/manifests/')) manifests++;
    waiting.add(res);
  });
  await new Promise<void>((resolve) => registry.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(registry.address() as AddressInfo).port}`,
    manifests: () => manifests,
    close: () => {
      for (const res of waiting) res.destroy();
      registry.closeAllConnections();
      return new Promise<void>((resolve) => registry.close(() => resolve()));
    },
  };
}

it('frees the slot of a run cancelled while its image is pulled, and hands back one still pulling at stop', async () => {
  const registry = await hangingRegistry();
  try {
    const worker = await agent('w-pull-hang', { maxParallel: 1 });
    const first = await submit(`${registry.host}/hang/a:1`);
    await waitFor('the pull to ask for the manifest', async () => registry.manifests() >= 1 || undefined);
    await client.cancelRun(first.id, 'not this one');
    // The slot is free at once, not at the pull's timeout (30 min).
    const local = await submit(SOURCE);
    expect((await finished(local.id)).state).toBe('COMPLETED');

    const second = await submit(`${registry.host}/hang/b:1`);
    await waitFor('the second pull to ask', async () => registry.manifests() >= 2 || undefined);
    // Not started, so not waited for: handed back (PENDING again) rather than left ASSIGNED.
    await worker.stop(60_000);
    expect((await client.getRun(second.id)).state).toBe('PENDING');
    await client.cancelRun(second.id, 'done with it');
  } finally {
    await registry.close();
  }
}, 90_000);

it('retries a pull the registry could not answer (transient), and succeeds once it is back', async () => {
  const image = await pushed(open);
  await open.stop();
  // The backoff leaves the registry time to come back before the next attempt.
  const run = await submit(image, 5, 2);
  await agent('w-down');
  const first = await waitFor(
    'the first attempt to fail',
    async () => {
      const attempts = await client.listAttempts(run.id);
      return attempts.find((a) => a.attempt === 1 && a.state === 'FAILED');
    },
    { timeoutMs: 60_000 },
  );
  expect(first.error_message).toContain('cannot pull');
  await open.start();
  // FAILED between attempts is not the end: wait for the attempt after the registry's return.
  const done = await waitFor(
    `${run.id} completed`,
    async () => {
      const now = await client.getRun(run.id);
      return now.state === 'COMPLETED' || (now.state === 'FAILED' && now.current_attempt >= 5) ? now : undefined;
    },
    { timeoutMs: 90_000 },
  );
  expect({ state: done.state, error: done.error_message }).toEqual({ state: 'COMPLETED', error: undefined });
  expect(done.current_attempt).toBeGreaterThan(1);
  await removeLocalImage(image);
}, 120_000);
