// What the worker's Docker tests share: a live API server with a fast scheduler, and agents
// against it that react quickly (short heartbeats and claims) and are all stopped after each test.
import { type EventJson, GyozaClient, type RunJson } from '@gyoza/client';
import { waitFor } from '@gyoza/test-support';
import { type Harness, startHarness } from '@gyoza/test-support/api-harness';
import Docker from 'dockerode';
import pino from 'pino';
import { type RunningWorker, startWorker, type WorkerOptions } from '../src';

export const docker = new Docker();

/** The API and a running scheduler on a SQLite file, with a client for `apiKey`. */
export async function startLiveServer(
  apiKey: string,
  workerTimeoutSeconds: number,
): Promise<{ server: Harness; client: GyozaClient }> {
  const server = await startHarness({
    apiKey,
    manualClock: false,
    scheduler: { workerTimeoutSeconds, reaperIntervalMs: 200, pollIntervalMs: 50 },
    startScheduler: true,
  });
  return { server, client: new GyozaClient({ baseUrl: server.url, apiKey, retries: 0 }) };
}

/** Agents with the tests' quick settings; `stopAll` (in afterEach) stops every one started. */
export class TestAgents {
  private readonly started: RunningWorker[] = [];

  /** `defaults` is read at each start, so it may name a client made in beforeAll. */
  constructor(private readonly defaults: () => WorkerOptions) {}

  async start(id: string, options: WorkerOptions = {}): Promise<RunningWorker> {
    const worker = await startWorker({
      id,
      docker,
      networkMode: 'none',
      heartbeatIntervalMs: 300,
      claimWaitSeconds: 1,
      logBatchMs: 50,
      logger: pino({ level: 'silent' }),
      ...this.defaults(),
      ...options,
    });
    this.started.push(worker);
    return worker;
  }

  async stopAll(): Promise<void> {
    for (const worker of this.started.splice(0)) await worker.stop(1000);
  }
}

/** Every event of a run, all pages. */
export async function eventsOf(client: GyozaClient, runId: string): Promise<EventJson[]> {
  const all: EventJson[] = [];
  let after: number | undefined;
  for (;;) {
    const page = await client.listEvents(runId, after);
    all.push(...page.events);
    if (page.events.length === 0) return all;
    after = page.events.at(-1)?.index;
  }
}

/** The output lines of LOG events, one per line. */
export const logLines = (events: EventJson[]) =>
  events.filter((e) => e.type === 'LOG').flatMap((e) => String(e.msg).split('\n'));

/** The run once it is COMPLETED, FAILED or CANCELLED (a FAILED with a retry to come included). */
export const finished = (client: GyozaClient, id: string): Promise<RunJson> =>
  waitFor(
    `${id} finished`,
    async () => {
      const run = await client.getRun(id);
      return ['COMPLETED', 'FAILED', 'CANCELLED'].includes(run.state) ? run : undefined;
    },
    { timeoutMs: 60_000 },
  );
