// End to end in a real browser: Debian's chromium driven by playwright-core, against the
// built server (two processes, GYOZA_WORKERS=2) on a fresh SQLite file. A "worker" is
// scripted through @gyoza/client (heartbeat, claim, events), so no Docker is needed.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { GyozaClient } from '@gyoza/client';
import {
  requireBuilt,
  type ServerProcess,
  startServerProcess,
  type TemporaryDirectory,
  temporaryDirectory,
} from '@gyoza/test-support';
import { type Browser, type BrowserContext, chromium, type Locator, type Page } from 'playwright-core';

const root = join(__dirname, '..', '..', '..');
const serverMain = join(root, 'apps', 'server', 'dist', 'main.js');
const dashboardIndex = join(root, 'apps', 'dashboard', 'dist', 'index.html');
const shots = join(root, '.tmp', 'dashboard-screenshots');
const KEY = 'dashboard-e2e-key-0123456789';
/** Generous: two server processes and a browser on a loaded two-core machine. */
const WAIT_MS = 20_000;

jest.setTimeout(120_000);

/** Retries a check until it passes (polling the page, like Playwright's web-first assertions). */
async function eventually(check: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
const visible = (locator: Locator) => locator.first().waitFor({ state: 'visible', timeout: WAIT_MS });
const hasText = (locator: Locator, text: string) =>
  eventually(async () => expect(await locator.textContent({ timeout: WAIT_MS })).toContain(text));
const lacksText = (locator: Locator, text: string) =>
  eventually(async () => expect(await locator.textContent({ timeout: WAIT_MS })).not.toContain(text));
const hasAttribute = (locator: Locator, name: string, value: string) =>
  eventually(async () => expect(await locator.getAttribute(name, { timeout: WAIT_MS })).toBe(value));

let dir: TemporaryDirectory;
let server: ServerProcess;
let base: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let client: GyozaClient;

beforeAll(async () => {
  requireBuilt(serverMain);
  requireBuilt(dashboardIndex);
  // A fresh folder each run, so it holds exactly this run's set (light and dark of each page).
  rmSync(shots, { recursive: true, force: true });
  mkdirSync(shots, { recursive: true });
  dir = temporaryDirectory('gyoza-dashboard-');
  server = await startServerProcess({
    main: serverMain,
    apiKey: KEY,
    databasePath: `${dir.dir}/gyoza.db`,
    env: { GYOZA_WORKERS: '2' },
  });
  base = server.base;
  client = new GyozaClient({ baseUrl: base, apiKey: KEY, env: {} });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    // Root in CI: chromium's sandbox needs an unprivileged user.
    args: ['--no-sandbox'],
  });
});

afterAll(async () => {
  await browser?.close();
  await server?.kill('SIGTERM');
  dir?.remove();
});

beforeEach(async () => {
  context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
  page = await context.newPage();
});

afterEach(async () => {
  await context.close();
});

async function signIn(p: Page = page) {
  await p.goto(`${base}/ui/`);
  await p.getByLabel('API key').fill(KEY);
  await p.getByRole('button', { name: 'Sign in' }).click();
  await visible(p.getByRole('heading', { name: 'Overview' }));
}

/** Saves `name.png` in the light theme and `name-dark.png` in the dark one (the system's setting, emulated). */
async function shot(name: string, p: Page = page) {
  await p.screenshot({ path: join(shots, `${name}.png`), fullPage: true, animations: 'disabled' });
  await p.emulateMedia({ colorScheme: 'dark' });
  await p.screenshot({ path: join(shots, `${name}-dark.png`), fullPage: true, animations: 'disabled' });
  await p.emulateMedia({ colorScheme: 'light' });
}

/** Fails when an element of `inner` sticks out of `outer`'s padding box (text spilling past a card's edge). */
async function fitsInside(outer: Locator, inner: Locator) {
  const box = await outer.evaluate((el) => {
    const r = el.getBoundingClientRect();
    return { left: r.left + el.clientLeft, right: r.left + el.clientLeft + el.clientWidth };
  });
  const parts = await inner.evaluateAll((els) =>
    els.map((el) => {
      const r = el.getBoundingClientRect();
      return { text: el.textContent, left: r.left, right: r.right, overflows: el.scrollWidth > el.clientWidth };
    }),
  );
  expect(parts.length).toBeGreaterThan(0);
  for (const part of parts) {
    expect({ ...part, left: part.left >= box.left - 0.5, right: part.right <= box.right + 0.5 }).toEqual({
      ...part,
      left: true,
      right: true,
      overflows: false,
    });
  }
}

async function deployGreet() {
  await client.putDefinition({
    id: 'greet',
    version: '1',
    image: 'busybox',
    input_specs: {
      name: { type: 'string', description: 'Who to greet' },
      times: { type: 'integer', default: 1 },
      shout: { type: 'boolean', default: false },
    },
  });
}

/** A scripted worker takes exactly `runId` (the test gives it the highest priority). */
async function claimAs(workerId: string, runId: string, gpus: { id: number; vram_mb: number; tags?: string[] }[] = []) {
  await client.heartbeat({ worker_id: workerId, resources: { cpu_cores: 8, ram_mb: 16_384, gpus }, tags: ['e2e'] });
  const ops = await client.claim(workerId, { limit: 1 });
  expect(ops.map((o) => o.id)).toEqual([runId]);
}

it('redirects / to the dashboard, refuses a wrong key and signs in with the right one', async () => {
  await page.goto(`${base}/`);
  await page.waitForURL(`${base}/ui/`, { timeout: WAIT_MS });
  await page.getByLabel('API key').fill('not-the-key-0123456789');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await hasText(page.getByRole('alert'), 'refused');
  await shot('sign-in-refused');
  await page.getByLabel('API key').fill(KEY);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await visible(page.getByRole('heading', { name: 'Overview' }));
  // Kept for the tab: a reload does not ask again, and the key is not on the page.
  await page.reload();
  await visible(page.getByRole('heading', { name: 'Overview' }));
  expect(await page.content()).not.toContain(KEY);
  await visible(page.getByText('Throughput, last hour'));
  await shot('overview');
});

it('creates a run from the ops form (field errors shown by field) and lists it in the runs table', async () => {
  await deployGreet();
  await signIn();
  await page.getByRole('link', { name: 'Ops' }).click();
  await page.getByRole('link', { name: 'greet' }).click();
  const form = page.getByRole('form', { name: 'Create a run' });
  await visible(form.getByLabel(/^name/));
  await form.getByLabel(/^times/).fill('two');
  await form.getByRole('button', { name: 'Create run' }).click();
  await visible(form.getByText('name is required'));
  await visible(form.getByText('times must be a number'));
  await shot('ops');
  await form.getByLabel(/^name/).fill('Ada');
  await form.getByLabel(/^times/).fill('3');
  await form.getByRole('button', { name: 'Create run' }).click();
  await page.waitForURL(/\/ui\/runs\/run_[A-Za-z0-9]+$/, { timeout: WAIT_MS });
  const runId = page.url().split('/').at(-1) as string;
  expect((await client.getRun(runId)).inputs).toEqual({ name: 'Ada', times: 3, shout: false });

  await page.getByRole('link', { name: 'Runs', exact: true }).click();
  const row = page.getByRole('row').filter({ hasText: runId });
  await visible(row);
  await hasText(row, 'greet@1');
  await hasText(row, 'PENDING');
  await shot('runs');
  await row.getByRole('link', { name: runId }).click();
  await visible(page.getByRole('heading', { name: runId }));
});

it('shows live log lines and progress as a worker reports them, and cancels the run from its page', async () => {
  await deployGreet();
  const run = await client.createRun({ definition_id: 'greet', inputs: { name: 'Bo' }, priority: 50 });
  await signIn();
  await page.goto(`${base}/ui/runs/${run.id}`);
  await visible(page.getByRole('heading', { name: run.id }));
  await claimAs('w-logs', run.id);
  await client.postEvent(run.id, { type: 'STARTED', payload: { worker_id: 'w-logs' } });
  await client.postEvent(run.id, { type: 'LOG', msg: 'hello from the container\nsecond line' });
  await client.postEvent(run.id, { type: 'PROGRESS', msg: 40 });
  const log = page.getByRole('log', { name: 'Log lines' });
  await hasText(log, 'hello from the container');
  await hasText(log, 'second line');
  await hasAttribute(page.getByRole('progressbar', { name: 'Run progress' }), 'aria-valuenow', '40');
  await hasText(page.getByRole('heading', { name: run.id }), 'RUNNING');
  await client.postEvent(run.id, { type: 'LOG', msg: 'a later line' });
  await hasText(log, 'a later line');
  await page.getByRole('searchbox').fill('second');
  await lacksText(log, 'hello from the container');
  await hasText(log, 'second line');
  await page.getByRole('searchbox').fill('');
  await page.getByRole('searchbox').blur();
  await hasText(page.getByRole('region', { name: 'Placement' }), 'w-logs');
  await shot('run');

  await page.getByRole('button', { name: 'Cancel run' }).click();
  await page.getByRole('button', { name: 'Yes, cancel it' }).click();
  await hasText(page.getByRole('heading', { name: run.id }), 'CANCELLED');
  expect((await client.getRun(run.id)).state).toBe('CANCELLED');
});

it('follows the run again after its follow failed, from the last line shown, and clears the error', async () => {
  const run = await client.createRun({ image: 'busybox', priority: 80 });
  await claimAs('w-outage', run.id);
  await client.postEvent(run.id, { type: 'STARTED', payload: { worker_id: 'w-outage' } });
  await client.postEvent(run.id, { type: 'LOG', msg: 'before the outage' });
  await signIn();
  // An open stream cannot be cut from here: the stream is refused from the start, so the page
  // follows by polling, which the outage below cuts like a server restart would.
  const stream = (url: URL) => url.pathname === `/runs/${run.id}/events/stream`;
  await page.route(stream, (route) => route.abort());
  await page.goto(`${base}/ui/runs/${run.id}`);
  const log = page.getByRole('log', { name: 'Log lines' });
  await hasText(log, 'before the outage');

  const ofRun = (url: URL) => url.pathname.startsWith(`/runs/${run.id}`);
  await page.route(ofRun, (route) => route.abort());
  const error = page.getByRole('alert').filter({ hasText: 'cannot reach the gyoza server' });
  await visible(error);
  await client.postEvent(run.id, { type: 'LOG', msg: 'during the outage' });
  await page.unroute(ofRun);
  await page.unroute(stream);
  // Without a reload: the follow starts again after its pause, after the last line shown.
  await hasText(log, 'during the outage');
  await client.postEvent(run.id, { type: 'LOG', msg: 'after the outage' });
  await hasText(log, 'after the outage');
  expect(await log.locator('.line').allTextContents()).toEqual([
    '#1before the outage',
    '#1during the outage',
    '#1after the outage',
  ]);
  await eventually(async () => expect(await error.count()).toBe(0));
  await client.cancelRun(run.id);
});

it('follows the new attempt after Retry: its events join the timeline and the log under the old ones', async () => {
  const run = await client.createRun({ image: 'busybox', priority: 80, retry_policy: { max_attempts: 3 } });
  await claimAs('w-retry', run.id);
  await client.postEvent(run.id, { type: 'STARTED', payload: { worker_id: 'w-retry' } });
  await client.postEvent(run.id, { type: 'LOG', msg: 'attempt one line' });
  await client.cancelRun(run.id);
  await signIn();
  // The page stops following a final run after one last read of its events (?after=).
  const followed = page.waitForEvent('requestfinished', {
    predicate: (r) => r.url().includes(`/runs/${run.id}/events?after=`),
    timeout: WAIT_MS,
  });
  await page.goto(`${base}/ui/runs/${run.id}`);
  const log = page.getByRole('log', { name: 'Log lines' });
  await hasText(log, 'attempt one line');
  await followed;

  await page.getByRole('button', { name: 'Retry' }).click();
  await page.getByRole('button', { name: 'Yes, retry' }).click();
  await hasText(page.getByRole('heading', { name: run.id }), 'PENDING');
  await claimAs('w-retry', run.id);
  await client.postEvent(run.id, { type: 'STARTED', payload: { worker_id: 'w-retry' } });
  await client.postEvent(run.id, { type: 'LOG', msg: 'attempt two line' });
  await hasText(log, 'attempt two line');
  await hasText(log, 'attempt one line');
  const timeline = page.getByRole('region', { name: 'Timeline' });
  await hasText(timeline, 'Attempt 2');
  await hasText(timeline, 'RETRIED');
  await hasText(page.getByRole('heading', { name: run.id }), 'RUNNING');
  await client.cancelRun(run.id);
});

it('follows a retry made elsewhere (the API) while the page stays open on the cancelled run', async () => {
  const run = await client.createRun({ image: 'busybox', priority: 80, retry_policy: { max_attempts: 3 } });
  await client.cancelRun(run.id);
  await signIn();
  const reads: string[] = [];
  page.on('requestfinished', (r) => reads.push(new URL(r.url()).pathname + new URL(r.url()).search));
  await page.goto(`${base}/ui/runs/${run.id}`);
  await visible(page.getByRole('button', { name: 'Retry' }));
  // Retried only once the page is done with the run: its follow ended (a last ?after= read) and
  // the run was read again after it, so only a later poll can see the retry.
  await eventually(async () => {
    const ended = reads.findIndex((u) => u.startsWith(`/runs/${run.id}/events?after=`));
    expect(ended).toBeGreaterThanOrEqual(0);
    expect(reads.slice(ended)).toContain(`/runs/${run.id}`);
  });
  await client.retryRun(run.id);
  await claimAs('w-elsewhere', run.id);
  await client.postEvent(run.id, { type: 'STARTED', payload: { worker_id: 'w-elsewhere' } });
  await client.postEvent(run.id, { type: 'LOG', msg: 'attempt two from elsewhere' });
  // The page reads a retryable final run every 10 s, within WAIT_MS; before, it stopped reading it.
  await visible(page.getByText('attempt 2 of 3'));
  await hasText(page.getByRole('heading', { name: run.id }), 'RUNNING');
  await hasText(page.getByRole('log', { name: 'Log lines' }), 'attempt two from elsewhere');
  await client.cancelRun(run.id);
});

it('shows the progress of the current attempt only, not what the failed one reached', async () => {
  const run = await client.createRun({
    image: 'busybox',
    priority: 80,
    retry_policy: { max_attempts: 3, backoff_seconds: 0 },
  });
  await signIn();
  await page.goto(`${base}/ui/runs/${run.id}`);
  const bar = page.getByRole('progressbar', { name: 'Run progress' });
  await claimAs('w-progress', run.id);
  await client.postEvent(run.id, { type: 'STARTED', payload: { worker_id: 'w-progress' } });
  await client.postEvent(run.id, { type: 'PROGRESS', msg: 90 });
  await hasAttribute(bar, 'aria-valuenow', '90');
  await client.postEvent(run.id, { type: 'FAILED', payload: { error_message: 'exit 1' } });
  // The server retries it by itself (no backoff); the second attempt starts and reports less.
  await eventually(async () => claimAs('w-progress', run.id));
  await client.postEvent(run.id, { type: 'STARTED', payload: { worker_id: 'w-progress' } });
  // The attempt first: once it shows 2, RUNNING is the second attempt's.
  await visible(page.getByText('attempt 2 of 3'));
  await hasText(page.getByRole('heading', { name: run.id }), 'RUNNING');
  await hasAttribute(bar, 'aria-valuenow', '0');
  await client.postEvent(run.id, { type: 'PROGRESS', msg: 30 });
  await hasAttribute(bar, 'aria-valuenow', '30');
  await client.cancelRun(run.id);
});

it('offers Retry only while the run has attempts left', async () => {
  const spent = await client.createRun({ image: 'busybox', retry_policy: { max_attempts: 1 } });
  const left = await client.createRun({ image: 'busybox', retry_policy: { max_attempts: 2 } });
  await client.cancelRun(spent.id);
  await client.cancelRun(left.id);
  await signIn();
  await page.goto(`${base}/ui/runs/${left.id}`);
  await visible(page.getByRole('button', { name: 'Retry' }));
  await page.goto(`${base}/ui/runs/${spent.id}`);
  // The buttons come with the state: once CANCELLED shows, so would Retry.
  await hasText(page.getByRole('heading', { name: spent.id }), 'CANCELLED');
  await visible(page.getByText('attempt 1 of 1'));
  expect(await page.getByRole('button', { name: 'Retry' }).count()).toBe(0);
});

it('cancels a failed run whose automatic retry is scheduled, as its notice suggests', async () => {
  const run = await client.createRun({
    image: 'busybox',
    priority: 80,
    retry_policy: { max_attempts: 5, backoff_seconds: 600 },
  });
  await claimAs('w-hint', run.id);
  await client.postEvent(run.id, { type: 'STARTED', payload: { worker_id: 'w-hint' } });
  await client.postEvent(run.id, { type: 'FAILED', payload: { error_message: 'exit 1' } });
  await signIn();
  await page.goto(`${base}/ui/runs/${run.id}`);
  await hasText(page.getByRole('region', { name: 'Why it waits' }), 'Cancel it to stop the retries.');
  await page.getByRole('button', { name: 'Cancel run' }).click();
  await page.getByRole('button', { name: 'Yes, cancel it' }).click();
  await hasText(page.getByRole('heading', { name: run.id }), 'CANCELLED');
  expect(await client.getRun(run.id)).toMatchObject({ state: 'CANCELLED', current_attempt: 1 });
  expect((await client.getRun(run.id)).not_before).toBeUndefined();
});

it('shows a page whose chunk is gone (an old tab after an upgrade) as an error with a reload, keeping the app', async () => {
  await signIn();
  // The tab asks for a chunk name of the previous build, which this server does not have.
  const stale = /\/ui\/assets\/workers-[^/]*\.js$/;
  await page.route(stale, (route) => route.continue({ url: `${base}/ui/assets/workers-0ldHash0.js` }));
  await page.getByRole('link', { name: 'Workers', exact: true }).click();
  const error = page.getByRole('alert').filter({ hasText: 'This page could not be shown' });
  await visible(error);
  await visible(page.getByRole('navigation', { name: 'Main' }));
  await shot('page-error');
  await page.unroute(stale);
  await error.getByRole('button', { name: 'Reload' }).click();
  await visible(page.getByRole('heading', { name: 'Workers' }));
  // Another page clears the error.
  await page.route(stale, (route) => route.continue({ url: `${base}/ui/assets/workers-0ldHash0.js` }));
  await page.goto(`${base}/ui/runs`);
  await page.getByRole('link', { name: 'Workers', exact: true }).click();
  await visible(error);
  await page.getByRole('link', { name: 'Runs', exact: true }).click();
  await visible(page.getByRole('heading', { name: 'Runs' }));
  expect(await error.count()).toBe(0);
});

it('renders the last 5000 lines of a long log, says how many earlier ones are not shown, and finds them by search', async () => {
  const run = await client.createRun({ image: 'busybox', priority: 80 });
  await claimAs('w-long-log', run.id);
  await client.postEvent(run.id, { type: 'STARTED', payload: { worker_id: 'w-long-log' } });
  for (let e = 0; e < 6; e++) {
    const msg = Array.from({ length: 1000 }, (_, i) => `line ${e * 1000 + i + 1}`).join('\n');
    await client.postEvent(run.id, { type: 'LOG', msg });
  }
  await signIn();
  await page.goto(`${base}/ui/runs/${run.id}`);
  const region = page.getByRole('region', { name: 'Log' });
  const log = page.getByRole('log', { name: 'Log lines' });
  await hasText(region, '6000 lines');
  await hasText(log, '1000 earlier lines are not shown');
  expect(await log.locator('.line').count()).toBe(5000);
  expect(await log.locator('.line').first().textContent()).toBe('#1line 1001');
  expect(await log.locator('.line').last().textContent()).toBe('#1line 6000');
  // A new line comes in at the end; the oldest shown one makes room.
  await client.postEvent(run.id, { type: 'LOG', msg: 'line 6001' });
  await hasText(region, '6001 lines');
  await hasText(log, '1001 earlier lines are not shown');
  expect(await log.locator('.line').last().textContent()).toBe('#1line 6001');
  await page.getByRole('searchbox').fill('line 7');
  await hasText(region, '111 of 6001 lines');
  await lacksText(log, 'not shown');
  expect(await log.locator('.line').first().textContent()).toBe('#1line 7');
  await client.cancelRun(run.id);
});

it('opens a run from its link in the runs table with one history entry, so Back returns to the table', async () => {
  const run = await client.createRun({ image: 'busybox' });
  await signIn();
  await page.goto(`${base}/ui/runs?state=PENDING`);
  await page.getByRole('row').filter({ hasText: run.id }).getByRole('link', { name: run.id }).click();
  await visible(page.getByRole('heading', { name: run.id }));
  await page.goBack();
  await visible(page.getByRole('heading', { name: 'Runs' }));
  expect(page.url()).toBe(`${base}/ui/runs?state=PENDING`);
  await client.cancelRun(run.id);
});

it("lists each op once, at its latest version, in the Ops list and the runs table's Op filter", async () => {
  for (const version of ['1', '2', '3']) await client.putDefinition({ id: 'multi', version, image: 'busybox' });
  await signIn();
  await page.goto(`${base}/ui/ops`);
  const ops = page.getByRole('navigation', { name: 'Ops' });
  await visible(ops.getByRole('link', { name: 'multi' }));
  expect(
    await ops
      .locator('li')
      .filter({ hasText: /^multi/ })
      .allTextContents(),
  ).toEqual(['multi 3']);
  await ops.getByRole('link', { name: 'multi' }).click();
  // The op's own page still offers every version.
  const versions = page.getByRole('region', { name: 'Op multi' }).getByRole('combobox');
  await eventually(async () => expect(await versions.locator('option').count()).toBe(3));
  await page.goto(`${base}/ui/runs`);
  const filter = page.getByRole('combobox', { name: 'Op' });
  await eventually(async () => expect(await filter.locator('option', { hasText: 'multi' }).count()).toBeGreaterThan(0));
  expect(await filter.locator('option', { hasText: 'multi' }).count()).toBe(1);
});

it('shows that a run is pulling its image, live, on its page and in the runs table, until it starts', async () => {
  const image = 'registry.local/gyoza/op:1';
  const run = await client.createRun({ image, priority: 70 });
  await claimAs('w-pull', run.id);
  // What the agent posts while the engine pulls (docs/worker.md), at most once a second.
  const report = (percent: number, done: number) =>
    client.postEvent(run.id, {
      type: 'INFO',
      msg: `pulling ${image} ${percent}%`,
      payload: { phase: 'pulling', image, done_bytes: done, total_bytes: 4_000_000, percent },
    });
  await report(42, 1_680_000);
  expect(await client.getRun(run.id)).toMatchObject({
    state: 'ASSIGNED',
    phase: 'pulling',
    pull_progress: { percent: 42 },
  });
  await signIn();
  await page.goto(`${base}/ui/runs/${run.id}`);
  const pull = page.getByRole('region', { name: 'Image pull' });
  await hasText(pull, `Pulling image ${image}… 42%`);
  await hasText(pull, '1.6 MB of 3.8 MB');
  const bar = pull.getByRole('progressbar', { name: 'Image pull progress' });
  await hasAttribute(bar, 'aria-valuenow', '42');
  await shot('run-pulling');
  // A later report reaches the open page without a reload (from the event stream, or the run
  // polled every 5 s: lib/pull.test.ts checks that the stream's newer report wins).
  await report(80, 3_200_000);
  await hasAttribute(bar, 'aria-valuenow', '80');
  await hasText(pull, '3.1 MB of 3.8 MB');

  await page.getByRole('link', { name: 'Runs', exact: true }).click();
  const row = page.getByRole('row').filter({ hasText: run.id });
  await hasText(row, 'ASSIGNED');
  await hasText(row, 'pulling 80%');
  await row.getByRole('link', { name: run.id }).click();
  await hasAttribute(bar, 'aria-valuenow', '80');
  // STARTED comes after the pull: the notice goes and the run is RUNNING.
  await client.postEvent(run.id, { type: 'STARTED', payload: { worker_id: 'w-pull' } });
  await hasText(page.getByRole('heading', { name: run.id }), 'RUNNING');
  await eventually(async () => expect(await pull.count()).toBe(0));
  await client.cancelRun(run.id);
});

it('says in plain words why a waiting run waits', async () => {
  // Named to sort first: the reason names five workers at most, and other tests add theirs.
  await client.heartbeat({ worker_id: 'a-small', resources: { cpu_cores: 2, ram_mb: 2048, gpus: [] } });
  const run = await client.createRun({ image: 'busybox', constraints: { gpu_count: 1, vram_mb: 100_000 } });
  await signIn();
  await page.goto(`${base}/ui/runs/${run.id}`);
  const why = page.getByRole('region', { name: 'Why it waits' });
  await hasText(why, 'No connected worker can ever run it.');
  await hasText(why, 'a-small — needs 1 GPU(s)');
  await shot('run-waiting');
});

it("scrolls to the worker a run's page links to, once the workers are shown", async () => {
  // Enough workers that the last one's card is far below the first screen.
  for (let i = 0; i < 24; i++) {
    await client.heartbeat({
      worker_id: `zz-scroll-${String(i).padStart(2, '0')}`,
      resources: { cpu_cores: 1, ram_mb: 512, gpus: [] },
    });
  }
  await signIn();
  await page.goto(`${base}/ui/workers#zz-scroll-23`);
  const card = page.locator('section[aria-label="Worker zz-scroll-23"]');
  await visible(card);
  // Before, the page stayed at the top: the card was rendered after the browser looked for it.
  await eventually(async () => {
    const box = await card.boundingBox();
    expect(box && box.y >= 0 && box.y < 800).toBe(true);
  });
});

it('shows the workers for a link whose hash is not a valid escape, rather than an error', async () => {
  await client.heartbeat({ worker_id: 'w-bad-hash', resources: { cpu_cores: 1, ram_mb: 512, gpus: [] } });
  await signIn();
  for (const hash of ['100%', '%E0%A4%A']) {
    await page.goto(`${base}/ui/workers#${hash}`);
    await visible(page.getByRole('heading', { name: 'Workers' }));
    await visible(page.locator('section[aria-label="Worker w-bad-hash"]'));
    // Before, decoding the hash threw: "URI malformed" in place of the page, and Reload showed it again.
    expect(await page.getByRole('alert').filter({ hasText: 'This page could not be shown' }).count()).toBe(0);
  }
});

it('shows each worker with CPU, RAM and per-GPU VRAM as used/total bars and its runs', async () => {
  const run = await client.createRun({
    image: 'busybox',
    priority: 100,
    constraints: { cpu_cores: 2, ram_mb: 4096, gpu_count: 1, vram_mb: 8192 },
  });
  await claimAs('gpu-box', run.id, [
    { id: 0, vram_mb: 24_576, tags: ['a100'] },
    { id: 1, vram_mb: 24_576 },
  ]);
  await signIn();
  await page.getByRole('link', { name: 'Workers', exact: true }).click();
  const card = page.locator('section[aria-label="Worker gpu-box"]');
  await visible(card);
  const meter = (name: string) => card.locator(`[role="meter"][aria-label="${name}"]`);
  await hasAttribute(meter('gpu-box CPU'), 'aria-valuenow', '2');
  await hasAttribute(meter('gpu-box CPU'), 'aria-valuemax', '8');
  await hasAttribute(meter('gpu-box RAM'), 'aria-valuenow', '4096');
  const gpus = [meter('gpu-box GPU 0 VRAM'), meter('gpu-box GPU 1 VRAM')];
  const used = await Promise.all(gpus.map((g) => g.getAttribute('aria-valuenow')));
  expect(used.sort()).toEqual(['0', '8192']);
  await hasText(card, '8 GB / 24 GB');
  await visible(card.getByRole('link', { name: run.id }));
  await hasText(card, 'e2e');
  // The visible labels leave the worker's name to the card's heading; the numbers fit in the card.
  expect(await card.locator('.usage-label').allTextContents()).toEqual([
    'CPU',
    'RAM',
    'GPU 0 · a100 VRAM',
    'GPU 1 VRAM',
  ]);
  await fitsInside(card, card.locator('.usage-label, .usage-text, .bar'));
  await shot('workers');
  // The overview once there is something to count: a GPU busy, runs in several states.
  await page.getByRole('link', { name: 'Overview' }).click();
  await hasText(page.getByRole('region', { name: 'GPUs' }), '1 busy');
  await visible(page.locator('.recharts-area-area'));
  await shot('overview-busy');
  await page.getByRole('link', { name: 'Workers', exact: true }).click();
  await visible(card);

  // Usable on a phone-width screen too (the same tab: the key is kept per tab).
  await page.setViewportSize({ width: 390, height: 844 });
  await visible(card);
  await fitsInside(card, card.locator('.usage-label, .usage-text, .bar'));
  await shot('workers-phone');
});

/** What has the keyboard focus, and whether it shows (a 2 px outline at least). */
function focused(p: Page = page) {
  return p.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    const style = el ? getComputedStyle(el) : undefined;
    return {
      name: (el?.getAttribute('aria-label') ?? el?.textContent ?? '').trim(),
      type: el?.getAttribute('type') ?? '',
      inNav: Boolean(el?.closest('nav[aria-label="Main"]')),
      inMain: Boolean(el?.closest('main')) && el?.tagName !== 'MAIN',
      ring: Boolean(style && style.outlineStyle !== 'none' && Number.parseFloat(style.outlineWidth) >= 2),
    };
  });
}
type Focused = Awaited<ReturnType<typeof focused>>;

/** Presses Tab (or Shift+Tab) until `wanted` has the focus; every stop on the way must show its focus. */
async function tabTo(wanted: (f: Focused) => boolean, key: 'Tab' | 'Shift+Tab' = 'Tab'): Promise<Focused> {
  const path: Focused[] = [];
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press(key);
    const now = await focused();
    path.push(now);
    if (wanted(now)) {
      expect(path.filter((f) => !f.ring)).toEqual([]);
      return now;
    }
  }
  throw new Error(`not reached with ${key}: ${path.map((f) => f.name || f.type).join(' → ')}`);
}

it('reaches every control of the run page with the keyboard and cancels the run with it alone', async () => {
  await deployGreet();
  const run = await client.createRun({ definition_id: 'greet', inputs: { name: 'Kay' }, priority: 60 });
  await claimAs('w-keys', run.id);
  await client.postEvent(run.id, { type: 'STARTED', payload: { worker_id: 'w-keys' } });
  await client.postEvent(run.id, { type: 'LOG', msg: 'a line to search' });
  await signIn();
  await page.goto(`${base}/ui/runs/${run.id}`);
  await visible(page.getByRole('heading', { name: run.id }));
  await hasText(page.getByRole('log', { name: 'Log lines' }), 'a line to search');

  // The first stop is the skip link, shown while focused; the next one is the main navigation.
  await page.keyboard.press('Tab');
  expect(await focused()).toMatchObject({ name: 'Skip to content', ring: true });
  expect((await page.getByRole('link', { name: 'Skip to content' }).boundingBox())?.x).toBeGreaterThanOrEqual(0);
  expect(await tabTo(() => true)).toMatchObject({ name: 'Overview', inNav: true });
  // Following the skip link moves past the navigation, into the page.
  await tabTo((f) => f.name === 'Skip to content', 'Shift+Tab');
  await page.keyboard.press('Enter');
  expect(await tabTo(() => true)).toMatchObject({ inNav: false, inMain: true });

  await tabTo((f) => f.name === 'Cancel run');
  await tabTo((f) => f.type === 'search');
  await page.keyboard.type('nothing like it');
  await hasText(page.getByRole('log', { name: 'Log lines' }), 'No line matches.');
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Backspace');
  await hasText(page.getByRole('log', { name: 'Log lines' }), 'a line to search');

  // Back to Cancel; the question takes the focus, Escape puts it back, Enter on the answer cancels.
  await tabTo((f) => f.name === 'Cancel run', 'Shift+Tab');
  await page.keyboard.press('Enter');
  expect(await focused()).toMatchObject({ name: 'Yes, cancel it', ring: true });
  await page.keyboard.press('Escape');
  expect(await focused()).toMatchObject({ name: 'Cancel run', ring: true });
  await page.keyboard.press('Space');
  expect(await focused()).toMatchObject({ name: 'Yes, cancel it', ring: true });
  await shot('run-confirm');
  await page.keyboard.press('Enter');
  await hasText(page.getByRole('heading', { name: run.id }), 'CANCELLED');
  expect((await client.getRun(run.id)).state).toBe('CANCELLED');
});
