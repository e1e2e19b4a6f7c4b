import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import {
  cancel,
  complete,
  createRun,
  fail,
  IdempotencyConflictError,
  type ImagePullPolicy,
  NotFoundError,
  type OpRun,
  RUN_ID_PATTERN,
  release,
  reprioritize,
  retry,
  start,
  type Transition,
  ValidationError,
  type WorkerEvent,
} from '@gyoza/domain';
import { pageSize } from '@gyoza/store';
import type { Request, Response } from 'express';
import type { ConstraintsDto, EventDeliveryDto, RetryPolicyDto } from '../dto/common.dto';
import {
  CancelRunDto,
  CreateRunDto,
  EventsQuery,
  ListRunsQuery,
  PatchRunDto,
  PostEventDto,
  ReleaseRunDto,
} from '../dto/run.dto';
import { sendEventPage, sendRunPage } from '../pages';
import type { ApiContext, RouteSpec } from '../route';
import { runJson } from '../serialize';
import { parseDto } from '../validation';
import { streamEvents } from './event-stream';
import { saveRun } from './save-run';
import { reportEvent } from './worker-events';

interface RunRequest {
  definition_id?: string;
  version?: string;
  image?: string;
  image_pull_policy?: ImagePullPolicy;
  inputs?: Record<string, unknown>;
  priority?: number;
  constraints?: ConstraintsDto;
  retry_policy?: RetryPolicyDto;
  event_delivery?: EventDeliveryDto;
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** For the spec: the header that makes creating a run idempotent. */
export const IDEMPOTENCY_HEADER = {
  name: 'Idempotency-Key',
  description: 'A replay with the same key and request answers 200 with the first run; another request, 409',
  pattern: IDEMPOTENCY_KEY,
};

/**
 * The request as sent (its JSON, keys sorted at every level), digested: what a replay with the
 * same Idempotency-Key must match to get the first run back. It is the request, not the run
 * it made, that is compared: a replay is the same whatever the definition it names became
 * since, and whatever the store made of its numbers (-0, 1e400).
 */
function requestFingerprint(body: RunRequest): string {
  const json = JSON.stringify(body, (_key, value: unknown) =>
    value !== null && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(
          Object.keys(value)
            .sort()
            .map((k) => [k, (value as Record<string, unknown>)[k]]),
        )
      : value,
  );
  return createHash('sha256').update(json).digest('base64url');
}

/** What a replay must match for a run stored before runs kept their request's fingerprint. */
const requested = (r: OpRun) => [
  r.definition_id,
  r.definition_version,
  r.image,
  r.image_pull_policy,
  r.inputs,
  r.priority,
  r.constraints,
  r.retry_policy,
  r.event_delivery,
];
const sameRequest = (stored: OpRun, asked: OpRun) =>
  stored.idempotency_fingerprint !== undefined
    ? stored.idempotency_fingerprint === asked.idempotency_fingerprint
    : isDeepStrictEqual(requested(stored), requested(asked));

export async function createRunFromRequest(req: Request, res: Response, ctx: ApiContext, body: RunRequest) {
  const key = req.get('idempotency-key');
  if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
    throw ValidationError.field('Idempotency-Key', 'must be 1 to 255 visible ASCII characters');
  }
  let fingerprint: string | undefined;
  if (key !== undefined) {
    fingerprint = requestFingerprint(body);
    // A replay is answered from the run its key made, before what it names is looked up again:
    // the definition may have a newer version by now, or be gone.
    const existing = await ctx.store.runs.getRunByIdempotencyKey(key);
    if (existing?.idempotency_fingerprint !== undefined) {
      if (existing.idempotency_fingerprint !== fingerprint) throw new IdempotencyConflictError(key);
      res.status(200).json(runJson(existing));
      return;
    }
  }
  let definition = null;
  if (body.definition_id !== undefined) {
    definition = await ctx.store.definitions.getDefinition(body.definition_id, body.version);
    if (!definition) {
      const id = body.version ? `${body.definition_id}@${body.version}` : body.definition_id;
      throw new NotFoundError('definition', id);
    }
  } else if (body.version !== undefined) {
    throw ValidationError.field('version', 'needs definition_id');
  }
  const now = ctx.clock();
  const transition = createRun(
    { ...body, idempotency_key: key, idempotency_fingerprint: fingerprint },
    definition,
    now,
  );
  const { run, created } = await ctx.store.runs.createRun(transition, now);
  if (!created && !sameRequest(run, transition.run)) throw new IdempotencyConflictError(key as string);
  if (created) ctx.scheduler.notifyRunnable({ runs: 1 });
  // No pending_reason here: it reads every active worker, and a create is the hot path;
  // GET /runs/{id} answers it on demand.
  res.status(created ? 201 : 200).json(runJson(run));
}

async function getRun(ctx: ApiContext, id: string): Promise<OpRun> {
  const run = await ctx.store.runs.getRun(id);
  if (!run) throw new NotFoundError('run', id);
  return run;
}

function patchTransition(dto: PatchRunDto, now: Date): (run: OpRun) => Transition {
  if (dto.outputs !== undefined && dto.state !== 'COMPLETED') {
    throw ValidationError.field('outputs', 'can only be set together with state COMPLETED');
  }
  return (original) => {
    let run = original;
    const events: Transition['events'] = [];
    const step = (t: Transition) => {
      run = t.run;
      events.push(...t.events);
    };
    // A retry (PENDING) first: a finished run takes a new priority only once it is queued again.
    if (dto.state === 'PENDING') step(retry(run, now));
    if (dto.priority !== undefined) step(reprioritize(run, dto.priority, now));
    switch (dto.state) {
      case undefined:
      case 'PENDING': // applied above, before the priority
        break;
      case 'RUNNING':
        step(start(run, {}, now));
        break;
      case 'COMPLETED':
        step(complete(run, dto.outputs, now));
        break;
      case 'FAILED':
        step(fail(run, dto.error_message, now));
        break;
      case 'CANCELLED':
        step(cancel(run, now, dto.error_message));
        break;
    }
    return { run, events };
  };
}

/** `?state=`: one state, a comma list, or the parameter repeated (GET /runs, /search/runs). */
export function statesOf(query: Request['query']): string[] | undefined {
  const raw = query.state;
  if (raw === undefined) return undefined;
  const states = (Array.isArray(raw) ? raw : [raw]).flatMap((s) => String(s).split(',')).filter(Boolean);
  // An empty list would match no run at all: refused, as GET /deliveries refuses an empty status.
  if (states.length === 0) {
    throw ValidationError.field('state', 'is empty: name at least one run state, or leave it out');
  }
  return states;
}

export const runRoutes: RouteSpec[] = [
  {
    method: 'post',
    path: '/runs',
    tag: 'runs',
    summary: 'Create a run from a definition (definition_id, version) or ad hoc (image); honors Idempotency-Key',
    headers: [IDEMPOTENCY_HEADER],
    body: CreateRunDto,
    success: {
      status: 201,
      description: 'The new run',
      schema: 'OpRun',
      replay: { status: 200, description: 'The same run, on a replay with the same Idempotency-Key' },
    },
    async handler(req, res, ctx) {
      const dto = parseDto(CreateRunDto, req.body, 'body');
      if (dto.definition_id !== undefined) {
        // Every field sent that the definition gives is named, not only the first.
        const given = [
          ['image', dto.image !== undefined],
          ['retry_policy', !!dto.retry_policy],
          ['event_delivery', !!dto.event_delivery],
        ] as const;
        const issues = given
          .filter(([, sent]) => sent)
          .map(([field]) => ({ field, message: 'comes from the definition: leave it out with definition_id' }));
        if (issues.length > 0) {
          const fields = issues.map((i) => i.field).join(', ');
          throw new ValidationError(`invalid body: ${fields} come from the definition`, issues);
        }
      }
      await createRunFromRequest(req, res, ctx, dto);
    },
  },
  {
    method: 'get',
    path: '/runs',
    tag: 'runs',
    summary: 'List runs, newest first, filtered by state / definition / worker, with cursor pagination',
    query: ListRunsQuery,
    success: { status: 200, description: 'A page of runs; next_cursor when there are more', schema: 'RunPage' },
    async handler(req, res, { store }) {
      const query = parseDto(ListRunsQuery, { ...req.query, state: statesOf(req.query) }, 'query');
      await sendRunPage(res, store, {
        state: query.state as OpRun['state'][] | undefined,
        definition_id: query.definition_id,
        worker_id: query.worker_id,
        limit: pageSize(query.limit),
        cursor: query.cursor,
      });
    },
  },
  {
    method: 'get',
    path: '/runs/:id',
    tag: 'runs',
    summary: 'A run with its attempts; `pending_reason` says why a PENDING run has no worker yet',
    params: { id: RUN_ID_PATTERN },
    success: { status: 200, description: 'The run', schema: 'OpRun' },
    async handler(req, res, ctx) {
      const run = await getRun(ctx, req.params.id as string);
      res.json(runJson(run, await ctx.scheduler.pendingReason(run)));
    },
  },
  {
    method: 'patch',
    path: '/runs/:id',
    tag: 'runs',
    summary:
      'Change priority, or move the run to a state (PENDING = retry, RUNNING, COMPLETED with outputs, FAILED, CANCELLED)',
    params: { id: RUN_ID_PATTERN },
    body: PatchRunDto,
    success: { status: 200, description: 'The run', schema: 'OpRun' },
    async handler(req, res, ctx) {
      const dto = parseDto(PatchRunDto, req.body, 'body');
      const saved = await saveRun(ctx, req.params.id as string, patchTransition(dto, ctx.clock()));
      res.json(runJson(saved.run));
    },
  },
  {
    method: 'post',
    path: '/runs/:id/cancel',
    tag: 'runs',
    summary:
      'Cancel a PENDING, ASSIGNED or RUNNING run (its worker is told to stop on its next heartbeat), or a FAILED run whose automatic retry is scheduled (the retry is not made)',
    params: { id: RUN_ID_PATTERN },
    body: CancelRunDto,
    bodyOptional: true,
    success: { status: 200, description: 'The run', schema: 'OpRun' },
    async handler(req, res, ctx) {
      const dto = parseDto(CancelRunDto, req.body ?? {}, 'body');
      const saved = await saveRun(ctx, req.params.id as string, (run) => cancel(run, ctx.clock(), dto.reason));
      res.json(runJson(saved.run));
    },
  },
  {
    method: 'post',
    path: '/runs/:id/release',
    tag: 'runs',
    summary:
      'Hand an ASSIGNED run back (its worker, which claimed it but will not start it): PENDING again at once, same attempt',
    params: { id: RUN_ID_PATTERN },
    body: ReleaseRunDto,
    success: { status: 200, description: 'The run', schema: 'OpRun' },
    async handler(req, res, ctx) {
      const dto = parseDto(ReleaseRunDto, req.body, 'body');
      const saved = await saveRun(ctx, req.params.id as string, (run) => release(run, dto, ctx.clock()));
      res.json(runJson(saved.run));
    },
  },
  {
    method: 'post',
    path: '/runs/:id/retry',
    tag: 'runs',
    summary: 'Retry a FAILED or CANCELLED run as a new attempt (400 once max_attempts is reached)',
    params: { id: RUN_ID_PATTERN },
    success: { status: 200, description: 'The run', schema: 'OpRun' },
    async handler(req, res, ctx) {
      const saved = await saveRun(ctx, req.params.id as string, (run) => retry(run, ctx.clock()));
      res.json(runJson(saved.run));
    },
  },
  {
    method: 'get',
    path: '/runs/:id/attempts',
    tag: 'runs',
    summary: 'Every attempt of a run',
    params: { id: RUN_ID_PATTERN },
    success: { status: 200, description: 'Attempts', schema: 'OpAttemptList' },
    async handler(req, res, ctx) {
      res.json((await getRun(ctx, req.params.id as string)).attempts);
    },
  },
  {
    method: 'get',
    path: '/runs/:id/events',
    tag: 'events',
    summary: 'Events after an index (poll with ?after=N), with the run state',
    params: { id: RUN_ID_PATTERN },
    query: EventsQuery,
    success: { status: 200, description: 'Events and the run state', schema: 'EventPage' },
    async handler(req, res, ctx) {
      const { after } = parseDto(EventsQuery, req.query, 'query');
      const run = await getRun(ctx, req.params.id as string);
      await sendEventPage(res, ctx.store, run, after);
    },
  },
  {
    method: 'post',
    path: '/runs/:id/events',
    tag: 'events',
    summary:
      'Report an event on the current attempt (worker): STARTED, PROGRESS, COMPLETED, FAILED, CANCELLED, LOG, INFO',
    params: { id: RUN_ID_PATTERN },
    body: PostEventDto,
    success: { status: 200, description: 'The run after the event', schema: 'OpRun' },
    async handler(req, res, ctx) {
      // The whole event is checked before the run is read: a PROGRESS of 140 is a 400 in any state.
      const event: WorkerEvent = parseDto(PostEventDto, req.body, 'body');
      res.json(runJson(await reportEvent(ctx, req.params.id as string, event)));
    },
  },
  {
    method: 'get',
    path: '/runs/:id/events/stream',
    tag: 'events',
    summary: 'Server-Sent Events of a run; resumes after Last-Event-ID (or ?after=); ends when the run is finished',
    params: { id: RUN_ID_PATTERN },
    headers: [{ name: 'Last-Event-ID', description: 'Resume after this event index', pattern: /^\d+$/ }],
    query: EventsQuery,
    success: {
      status: 200,
      description: 'Server-Sent Events: `id` the event index, `event` its type, `data` the RunEvent as JSON',
      schema: 'RunEventStream',
      contentType: 'text/event-stream',
    },
    async handler(req, res, ctx) {
      const { after } = parseDto(EventsQuery, req.query, 'query');
      const lastEventId = req.get('last-event-id');
      const resumeAt = lastEventId !== undefined && /^\d+$/.test(lastEventId) ? Number(lastEventId) : (after ?? 0);
      const run = await getRun(ctx, req.params.id as string);
      await streamEvents(req, res, ctx, run.id, resumeAt);
    },
  },
];
