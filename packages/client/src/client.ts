import { randomUUID } from 'node:crypto';
import { FINISHED_STATES, isRunFinal, type OpDefinitionInput, type RunState } from '@gyoza/domain';
import { type GyozaClientOptions, type ResolvedConfig, resolveConfig } from './config';
import { GyozaAnswerError, GyozaConnectionError, GyozaWaitTimeoutError } from './errors';
import { buildUrl, HttpTransport, isTransient, sleep } from './http';
import { parseSse } from './sse';
import type { SearchRunsFilter, StatsJson, ThroughputJson } from './stats';
import type {
  AttemptJson,
  CreateRunBody,
  DefinitionJson,
  EventJson,
  EventsPage,
  HealthJson,
  HeartbeatInput,
  HeartbeatResponse,
  ListRunsFilter,
  PostEventBody,
  ReportedEvent,
  ReportResult,
  RunFromDefinitionInput,
  RunJson,
  RunsPage,
  UpdateRunBody,
  WorkerJson,
  WorkerOpRun,
} from './types';
import type { DeliveryJson } from './webhooks';

/** The domain's rule, for runs as the API answers them (the event stream ends by it too). */
export { isRunFinal };

export interface CreateRunOptions {
  /**
   * Makes the creation safe to repeat (`Idempotency-Key`).
   * @defaultValue a random key when retries are on, else none
   */
  idempotencyKey?: string;
  /**
   * Aborts the request.
   * @defaultValue none
   */
  signal?: AbortSignal;
}

export interface ClaimOptions {
  /**
   * How many runs to take at most (1..100).
   * @defaultValue 1 (the server's default)
   */
  limit?: number;
  /**
   * Long poll: the server waits up to this long (0..60 s) for work.
   * @defaultValue 0 (answer at once)
   */
  waitSeconds?: number;
  /**
   * Aborts the request.
   * @defaultValue none
   */
  signal?: AbortSignal;
}

export interface FollowOptions {
  /**
   * Start after this event index.
   * @defaultValue 0 (from the first event)
   */
  after?: number;
  /**
   * Ends the iteration.
   * @defaultValue none (follow until the run is final)
   */
  signal?: AbortSignal;
  /**
   * Delay between polls and before reconnecting a dropped stream.
   * @defaultValue 1000
   */
  pollIntervalMs?: number;
  /**
   * Skip SSE and poll from the start.
   * @defaultValue false
   */
  polling?: boolean;
  /**
   * A stream silent this long (the server sends a keep-alive comment every 15 s) is taken as
   * dead and reopened from the last event: a connection that hangs without closing.
   * @defaultValue 45000
   */
  idleTimeoutMs?: number;
  /**
   * What a server outage does once the server has answered: `wait` it out (retrying with
   * backoff), or `throw` its error, for a caller that shows the outage and follows again
   * itself (the dashboard).
   * @defaultValue 'wait'
   */
  outages?: 'wait' | 'throw';
}

export interface WaitOptions {
  /**
   * Give up after this long with a `GyozaWaitTimeoutError`.
   * @defaultValue none (wait forever)
   */
  timeoutMs?: number;
  /**
   * Aborts the wait.
   * @defaultValue none
   */
  signal?: AbortSignal;
  /**
   * Delay between polls when the event stream is not available.
   * @defaultValue 1000
   */
  pollIntervalMs?: number;
}

const enc = encodeURIComponent;

/** A floor under the backoff while a server is away, so `retryDelayMs: 0` does not spin. */
const MIN_OUTAGE_BACKOFF_MS = 50;

/** A typed client for every route of the gyoza HTTP API (see docs/api.md). */
export class GyozaClient {
  readonly config: ResolvedConfig;
  private readonly http: HttpTransport;

  constructor(options: GyozaClientOptions = {}) {
    this.config = resolveConfig(options);
    this.http = new HttpTransport(this.config);
  }

  get baseUrl(): string {
    return this.config.baseUrl;
  }

  // --- health and introspection ---

  health(signal?: AbortSignal): Promise<HealthJson> {
    return this.http.request({ method: 'GET', path: '/health', retryable: true, signal });
  }

  openapi(): Promise<Record<string, unknown>> {
    return this.http.request({ method: 'GET', path: '/openapi.json', retryable: true });
  }

  /** The Prometheus exposition text. */
  metrics(): Promise<string> {
    return this.http.request({ method: 'GET', path: '/metrics', retryable: true, responseType: 'text' });
  }

  // --- definitions ---

  /** Upserts a definition; safe to repeat, so it is retried like a PUT. */
  putDefinition(definition: OpDefinitionInput): Promise<DefinitionJson> {
    return this.http.request({ method: 'POST', path: '/definitions', body: definition, retryable: true });
  }

  /** The given version, or the latest (most recently created) one. */
  getDefinition(id: string, version?: string): Promise<DefinitionJson> {
    return this.http.request({ method: 'GET', path: `/definitions/${enc(id)}`, query: { version }, retryable: true });
  }

  /** Every version of every definition, by id and newest first; `latest`: only the latest of each id. */
  listDefinitions(options: { latest?: boolean } = {}): Promise<DefinitionJson[]> {
    return this.http.request({
      method: 'GET',
      path: '/definitions',
      query: { latest: options.latest ? 'true' : undefined },
      retryable: true,
    });
  }

  /** Every version of one definition, newest first. */
  listDefinitionVersions(id: string): Promise<DefinitionJson[]> {
    return this.http.request({ method: 'GET', path: `/definitions/${enc(id)}/versions`, retryable: true });
  }

  /**
   * Deletes one version, or every version when `version` is omitted. Retried like every
   * DELETE; a retried try answered 404 means an earlier try deleted it and its answer was
   * lost, so it resolves `{ deleted: null }` (done, count unknown). A 404 on the first try
   * is thrown: there was nothing to delete.
   */
  deleteDefinition(id: string, version?: string): Promise<{ deleted: number | null }> {
    return this.http.request({
      method: 'DELETE',
      path: `/definitions/${enc(id)}`,
      query: { version },
      retryable: true,
      retriedNotFound: { deleted: null },
    });
  }

  // --- runs ---

  createRunFromDefinition(
    id: string,
    body: RunFromDefinitionInput = {},
    options: CreateRunOptions & { version?: string } = {},
  ): Promise<RunJson> {
    const key = this.idempotencyKey(options.idempotencyKey);
    return this.http.request({
      method: 'POST',
      path: `/definitions/${enc(id)}/runs`,
      query: { version: options.version },
      body,
      headers: key ? { 'idempotency-key': key } : {},
      retryable: key !== undefined,
      signal: options.signal,
    });
  }

  /** A run from a definition (`definition_id`) or an ad-hoc one (`image`). */
  createRun(body: CreateRunBody, options: CreateRunOptions = {}): Promise<RunJson> {
    const key = this.idempotencyKey(options.idempotencyKey);
    return this.http.request({
      method: 'POST',
      path: '/runs',
      body,
      headers: key ? { 'idempotency-key': key } : {},
      retryable: key !== undefined,
      signal: options.signal,
    });
  }

  getRun(id: string, signal?: AbortSignal): Promise<RunJson> {
    return this.http.request({ method: 'GET', path: `/runs/${enc(id)}`, retryable: true, signal });
  }

  /** One page of runs, newest first; pass `next_cursor` back as `cursor` for the next. */
  listRuns(filter: ListRunsFilter = {}): Promise<RunsPage> {
    const state = filter.state === undefined ? undefined : ([] as RunState[]).concat(filter.state);
    return this.http.request({
      method: 'GET',
      path: '/runs',
      query: {
        state,
        definition_id: filter.definition_id,
        worker_id: filter.worker_id,
        limit: filter.limit,
        cursor: filter.cursor,
      },
      retryable: true,
    });
  }

  /** Every run matching the filter, fetching pages as the caller iterates. */
  async *iterateRuns(filter: Omit<ListRunsFilter, 'cursor'> = {}): AsyncGenerator<RunJson> {
    let cursor: string | undefined;
    do {
      const page = await this.listRuns({ ...filter, cursor });
      yield* page.runs;
      cursor = page.next_cursor;
    } while (cursor);
  }

  /** PATCH: a state transition (RUNNING/COMPLETED/FAILED/CANCELLED), outputs or priority. */
  updateRun(id: string, body: UpdateRunBody): Promise<RunJson> {
    return this.http.request({ method: 'PATCH', path: `/runs/${enc(id)}`, body });
  }

  cancelRun(id: string, reason?: string): Promise<RunJson> {
    return this.http.request({ method: 'POST', path: `/runs/${enc(id)}/cancel`, body: reason ? { reason } : {} });
  }

  /**
   * Hands an ASSIGNED run back as its worker (PENDING again, same attempt): the worker
   * claimed it but will not start it. 409 INVALID_TRANSITION once started, WORKER_MISMATCH for another worker.
   */
  releaseRun(
    id: string,
    body: { worker_id: string; attempt?: number; assignment_id?: string; reason?: string },
  ): Promise<RunJson> {
    return this.http.request({ method: 'POST', path: `/runs/${enc(id)}/release`, body });
  }

  /** A new attempt of a FAILED or CANCELLED run (400 MAX_ATTEMPTS_REACHED when used up). */
  retryRun(id: string): Promise<RunJson> {
    return this.http.request({ method: 'POST', path: `/runs/${enc(id)}/retry` });
  }

  listAttempts(id: string): Promise<AttemptJson[]> {
    return this.http.request({ method: 'GET', path: `/runs/${enc(id)}/attempts`, retryable: true });
  }

  /** A run's webhook deliveries, in event order. */
  listRunDeliveries(id: string): Promise<DeliveryJson[]> {
    return this.http.request({ method: 'GET', path: `/runs/${enc(id)}/deliveries`, retryable: true });
  }

  /** Webhook deliveries across runs, by status (e.g. `['failing', 'dead']`). */
  listDeliveries(options: { status?: DeliveryJson['status'][]; limit?: number } = {}): Promise<DeliveryJson[]> {
    const query = { status: options.status?.join(','), limit: options.limit };
    return this.http.request({ method: 'GET', path: '/deliveries', query, retryable: true });
  }

  /** Queues a delivery again from attempt 0 (same webhook-id). */
  redeliver(id: string): Promise<DeliveryJson> {
    return this.http.request({ method: 'POST', path: `/deliveries/${enc(id)}/redeliver` });
  }

  /** Events with an index above `after`, and the run's state. */
  listEvents(id: string, after?: number, signal?: AbortSignal): Promise<EventsPage> {
    return this.http.request({
      method: 'GET',
      path: `/runs/${enc(id)}/events`,
      query: { after },
      retryable: true,
      signal,
    });
  }

  /** A worker's report: STARTED, PROGRESS (msg 0..100), COMPLETED, FAILED, CANCELLED, LOG, INFO; answers the run after it. */
  postEvent(id: string, event: PostEventBody): Promise<RunJson> {
    return this.http.request({ method: 'POST', path: `/runs/${enc(id)}/events`, body: event });
  }

  /**
   * A worker's reports for many runs in one request (at most 500), applied in order; each is
   * validated and fenced on its own and gets its own result (a refused one does not stop
   * the rest). Not retried: the caller retries what did not get a result.
   */
  async reportEvents(workerId: string, events: ReportedEvent[]): Promise<ReportResult[]> {
    const answer = await this.http.request<{ results: ReportResult[] }>({
      method: 'POST',
      path: `/workers/${enc(workerId)}/events`,
      body: { events },
    });
    return answer.results;
  }

  // --- workers ---

  /** Registers or refreshes a worker; it replaces the worker's state, so it is retried. */
  heartbeat(body: HeartbeatInput): Promise<HeartbeatResponse> {
    return this.http.request({ method: 'POST', path: '/workers/heartbeat', body, retryable: true });
  }

  /**
   * Takes up to `limit` runs for the worker. Never retried: a lost answer would lose the
   * runs it handed out until the worker's next heartbeat gives them back.
   */
  async claim(workerId: string, options: ClaimOptions = {}): Promise<WorkerOpRun[]> {
    const waitSeconds = options.waitSeconds ?? 0;
    const path = `/workers/${enc(workerId)}/claim`;
    const answer = await this.http.request<{ ops?: unknown } | undefined>({
      method: 'POST',
      path,
      query: { limit: options.limit, wait_seconds: waitSeconds || undefined },
      timeoutMs: this.config.timeoutMs + waitSeconds * 1000,
      signal: options.signal,
    });
    // A worker starts what this answers: a body that is not a list of runs is refused here.
    const ops = answer?.ops;
    if (!Array.isArray(ops) || !ops.every((op) => typeof op === 'object' && op !== null && typeof op.id === 'string')) {
      throw new GyozaAnswerError(path, 'no list of runs (ops)');
    }
    return ops as WorkerOpRun[];
  }

  listWorkers(): Promise<WorkerJson[]> {
    return this.http.request({ method: 'GET', path: '/workers', retryable: true });
  }

  // --- stats ---

  /** Runs per state, queue depth, active and evicted workers, busy and free GPUs. */
  stats(signal?: AbortSignal): Promise<StatsJson> {
    return this.http.request({ method: 'GET', path: '/stats', retryable: true, signal });
  }

  /** Runs created, completed and failed per minute over the last `minutes` (default 60). */
  throughput(minutes?: number, signal?: AbortSignal): Promise<ThroughputJson> {
    return this.http.request({ method: 'GET', path: '/stats/throughput', query: { minutes }, retryable: true, signal });
  }

  /** Like `listRuns`, also within a creation-time range. */
  searchRuns(filter: SearchRunsFilter = {}, signal?: AbortSignal): Promise<RunsPage> {
    const state = filter.state === undefined ? undefined : ([] as RunState[]).concat(filter.state);
    const time = (value: Date | string | undefined) => (value instanceof Date ? value.toISOString() : value);
    return this.http.request({
      method: 'GET',
      path: '/search/runs',
      query: {
        state,
        definition_id: filter.definition_id,
        worker_id: filter.worker_id,
        created_after: time(filter.created_after),
        created_before: time(filter.created_before),
        limit: filter.limit,
        cursor: filter.cursor,
      },
      retryable: true,
      signal,
    });
  }

  // --- following runs ---

  /**
   * Yields the run's events in order, live, until the run is final. Uses the SSE stream,
   * reconnecting with `Last-Event-ID` after a drop; falls back to polling `?after=` when
   * the server answers but will not give the stream. Once the server has answered, a server
   * that cannot be reached or answers 5xx/429 (restarting, say) is tried again with backoff
   * up to 5 s between tries, for as long as it takes: only the run's end or the `signal` ends
   * the iteration. Before it has answered at all, such a failure is thrown (a wrong URL).
   */
  followEvents(runId: string, options: FollowOptions = {}): AsyncGenerator<EventJson> {
    return this.follow(runId, options, false);
  }

  /**
   * Waits until the run is final and returns it, through server outages like `followEvents`
   * (from its first read on: a server that never answers is waited for too). `timeoutMs` or
   * `signal` bounds the whole wait, outages included.
   */
  async waitForRun(id: string, options: WaitOptions = {}): Promise<RunJson> {
    const timeout = options.timeoutMs === undefined ? undefined : AbortSignal.timeout(options.timeoutMs);
    const signals = [timeout, options.signal].filter((s): s is AbortSignal => s !== undefined);
    const signal = signals.length > 0 ? AbortSignal.any(signals) : undefined;
    try {
      let run = await this.persist(() => this.getRun(id, signal), signal);
      if (isRunFinal(run)) return run;
      for await (const _event of this.follow(id, { signal, pollIntervalMs: options.pollIntervalMs }, true)) {
        // Only the end matters here.
      }
      run = await this.persist(() => this.getRun(id, signal), signal);
      return run;
    } catch (error) {
      if (timeout?.aborted && !options.signal?.aborted) throw new GyozaWaitTimeoutError(id, options.timeoutMs ?? 0);
      throw error;
    }
  }

  /** `followEvents`; `reached`: the server has answered already, so outages are waited out from the start. */
  private async *follow(runId: string, options: FollowOptions, reached: boolean): AsyncGenerator<EventJson> {
    const { signal } = options;
    const interval = options.pollIntervalMs ?? 1000;
    let last = options.after ?? 0;
    let useSse = !options.polling;
    const idleMs = options.idleTimeoutMs ?? 45_000;
    // Once a stream has opened, the server has one: failing to reopen it is an outage.
    let streamSeen = false;
    let failedOpens = 0;
    const waits = options.outages !== 'throw';
    const read = async <T>(call: () => Promise<T>): Promise<T> => {
      const value = waits && reached ? await this.persist(call, signal) : await call();
      reached = true;
      return value;
    };
    for (;;) {
      if (useSse) {
        const streamed: EventJson[] = [];
        let openError: unknown;
        let opened = false;
        const idle = new AbortController();
        let watchdog: NodeJS.Timeout | undefined;
        const quiet = () => {
          clearTimeout(watchdog);
          watchdog = setTimeout(() => idle.abort(new Error('the event stream went silent')), idleMs);
        };
        try {
          const res = await this.http.open(
            buildUrl(this.config.baseUrl, `/runs/${enc(runId)}/events/stream`),
            { headers: this.http.headers({ accept: 'text/event-stream', 'last-event-id': String(last) }) },
            this.config.timeoutMs,
            signal ? AbortSignal.any([signal, idle.signal]) : idle.signal,
          );
          if (!res.body || !(res.headers.get('content-type') ?? '').includes('text/event-stream')) {
            await res.body?.cancel();
            throw new Error('not an event stream');
          }
          opened = true;
          streamSeen = true;
          reached = true;
          failedOpens = 0;
          quiet();
          // Every chunk (a keep-alive comment too) shows the connection is alive.
          const watched = res.body.pipeThrough(
            new TransformStream<Uint8Array, Uint8Array>({
              transform(chunk, controller) {
                quiet();
                controller.enqueue(chunk);
              },
            }),
          );
          for await (const message of parseSse(watched)) {
            const event = parseEvent(message.data);
            if (!event || event.index <= last) continue;
            last = event.index;
            streamed.push(event);
            yield event;
          }
        } catch (error) {
          if (signal?.aborted) throw signal.reason;
          if (!opened) openError = error;
        } finally {
          clearTimeout(watchdog);
        }
        if (openError !== undefined) {
          // Unreachable, or failing where a stream was given before: the server is away for
          // now, so wait and open the stream again. Answered without a stream: poll instead.
          const outage =
            waits && reached && (openError instanceof GyozaConnectionError || (streamSeen && isTransient(openError)));
          if (!outage) {
            useSse = false;
            continue;
          }
          failedOpens++;
          await sleep(Math.max(MIN_OUTAGE_BACKOFF_MS, this.http.backoff(failedOpens)), signal);
          continue;
        }
        // The stream ended or dropped: finished, or reconnect where we left off.
        const run = await read(() => this.getRun(runId, signal));
        if (isRunFinal(run)) {
          yield* this.drainEvents(runId, last, signal);
          return;
        }
        if (streamed.length === 0) await sleep(interval, signal);
        continue;
      }

      const page = await read(() => this.listEvents(runId, last, signal));
      for (const event of page.events) {
        if (event.index <= last) continue;
        last = event.index;
        yield event;
      }
      if (page.events.length > 0) continue;
      if (FINISHED_STATES.includes(page.state)) {
        const run = await read(() => this.getRun(runId, signal));
        if (isRunFinal(run)) {
          yield* this.drainEvents(runId, last, signal);
          return;
        }
      }
      await sleep(interval, signal);
    }
  }

  /** The events after `after`, page by page (the server answers 1,000 at most), to the last. */
  private async *drainEvents(runId: string, after: number, signal?: AbortSignal): AsyncGenerator<EventJson> {
    let last = after;
    for (;;) {
      const page = await this.persist(() => this.listEvents(runId, last, signal), signal);
      const fresh = page.events.filter((event) => event.index > last);
      if (fresh.length === 0) return;
      for (const event of fresh) {
        last = event.index;
        yield event;
      }
    }
  }

  /**
   * Repeats a read through failures that end (unreachable, 5xx, 429: a server restarting),
   * backing off up to 5 s between tries, until it answers, fails otherwise or `signal` aborts.
   * For following a run, which outlives any one request's retries.
   */
  private async persist<T>(read: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let failures = 1; ; failures++) {
      try {
        return await read();
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        if (!isTransient(error)) throw error;
        await sleep(Math.max(MIN_OUTAGE_BACKOFF_MS, this.http.backoff(failures)), signal);
      }
    }
  }

  private idempotencyKey(given: string | undefined): string | undefined {
    if (given) return given;
    return this.config.retries > 0 ? `gyoza-client-${randomUUID()}` : undefined;
  }
}

function parseEvent(data: string): EventJson | undefined {
  try {
    const event = JSON.parse(data) as EventJson;
    return typeof event?.index === 'number' ? event : undefined;
  } catch {
    return undefined;
  }
}
