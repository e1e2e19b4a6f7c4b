/**
 * JSON Schemas of what the API answers, for the OpenAPI document. Each mirrors a domain type
 * as serialize.ts puts it on the wire (dates as ISO strings, no storage revision, no webhook
 * secret); objects are closed (`additionalProperties: false`), so a field leaking into an
 * answer contradicts the document and the contract check in CI fails.
 */
import {
  ASSIGNMENT_ID_PATTERN,
  DEFINITION_ID_PATTERN,
  HELD_DIGEST_PATTERN,
  IMAGE_PULL_POLICIES,
  INPUT_TYPES,
  RUN_ID_PATTERN,
  RUN_STATES,
  SERVER_EVENT_TYPES,
  VERSION_PATTERN,
  WORKER_EVENT_TYPES,
  WORKER_ID_PATTERN,
} from '@gyoza/domain';
import { DELIVERY_SCHEMAS } from './dto/delivery.dto';
import { STATS_SCHEMAS } from './dto/stats.dto';

export type Schema = Record<string, unknown>;

/** A reference to another schema of this file. */
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const string: Schema = { type: 'string' };
const dateTime: Schema = { type: 'string', format: 'date-time' };
const integer = (minimum?: number): Schema =>
  minimum === undefined ? { type: 'integer' } : { type: 'integer', minimum };
const number = (minimum?: number): Schema => (minimum === undefined ? { type: 'number' } : { type: 'number', minimum });
const arrayOf = (items: Schema): Schema => ({ type: 'array', items });
const pattern = (re: RegExp): Schema => ({ type: 'string', pattern: re.source });
/** Free-form JSON object (inputs, outputs, payloads). */
const freeObject: Schema = { type: 'object' };

/** A closed object: `optional` names the properties that may be absent. */
function object(properties: Record<string, Schema>, optional: readonly string[] = []): Schema {
  return {
    type: 'object',
    required: Object.keys(properties).filter((name) => !optional.includes(name)),
    properties,
    additionalProperties: false,
  };
}

const runState: Schema = { type: 'string', enum: [...RUN_STATES] };
const eventType: Schema = { type: 'string', enum: [...WORKER_EVENT_TYPES, ...SERVER_EVENT_TYPES] };

const constraints = object(
  {
    cpu_cores: number(0),
    ram_mb: integer(0),
    vram_mb: integer(0),
    gpu_count: integer(0),
    gpu_tags: arrayOf(string),
    worker_tags: arrayOf(string),
    timeout_seconds: number(0),
    shm_size_mb: { ...integer(1), description: "The container's /dev/shm; absent: Docker's 64 MB" },
  },
  ['shm_size_mb'],
);

const imagePullPolicy: Schema = {
  type: 'string',
  enum: [...IMAGE_PULL_POLICIES],
  description: "When the worker pulls the image; absent: the worker's default",
};

const retryPolicy = object(
  {
    max_attempts: integer(1),
    backoff_seconds: number(0),
    backoff_multiplier: number(1),
    max_backoff_seconds: number(0),
  },
  ['max_backoff_seconds'],
);

/** The secret itself is never returned: `has_secret` says whether one is set. */
const eventDelivery = object(
  {
    webhook_url: { type: 'string', format: 'uri' },
    event_types: arrayOf(eventType),
    has_secret: { type: 'boolean', description: 'Whether a webhook secret is set (the secret is never returned)' },
  },
  ['webhook_url', 'event_types'],
);

const attempt = object(
  {
    attempt: integer(1),
    state: runState,
    worker_id: string,
    gpu_ids: arrayOf(integer(0)),
    progress: number(0),
    outputs: freeObject,
    error_message: string,
    created_at: dateTime,
    assigned_at: dateTime,
    assignment_id: pattern(ASSIGNMENT_ID_PATTERN),
    started_at: dateTime,
    finished_at: dateTime,
  },
  ['worker_id', 'error_message', 'assigned_at', 'assignment_id', 'started_at', 'finished_at'],
);

const run = object(
  {
    id: pattern(RUN_ID_PATTERN),
    definition_id: pattern(DEFINITION_ID_PATTERN),
    definition_version: pattern(VERSION_PATTERN),
    image: string,
    image_pull_policy: imagePullPolicy,
    inputs: freeObject,
    outputs: freeObject,
    priority: integer(),
    constraints: ref('Constraints'),
    retry_policy: ref('RetryPolicy'),
    event_delivery: ref('EventDelivery'),
    state: runState,
    progress: { type: 'number', minimum: 0, maximum: 100 },
    current_attempt: integer(1),
    worker_id: string,
    gpu_ids: arrayOf(integer(0)),
    error_message: string,
    created_at: dateTime,
    updated_at: dateTime,
    assigned_at: { ...dateTime, description: 'When the current assignment was made' },
    assignment_id: {
      ...pattern(ASSIGNMENT_ID_PATTERN),
      description: "The current assignment's id: with the attempt, the token a worker's reports name",
    },
    started_at: dateTime,
    finished_at: dateTime,
    not_before: dateTime,
    idempotency_key: string,
    attempts: arrayOf(ref('OpAttempt')),
    pending_reason: { type: 'string', description: 'Why a PENDING run has no worker yet' },
    phase: {
      type: 'string',
      enum: ['pulling'],
      description: 'ASSIGNED and its worker is pulling the image (the command has not started)',
    },
    pull_progress: object({
      image: string,
      done_bytes: integer(0),
      total_bytes: integer(0),
      percent: { type: 'number', minimum: 0, maximum: 100 },
    }),
  },
  [
    'definition_id',
    'definition_version',
    'image_pull_policy',
    'worker_id',
    'error_message',
    'assigned_at',
    'assignment_id',
    'started_at',
    'finished_at',
    'not_before',
    'idempotency_key',
    'pending_reason',
    'phase',
    'pull_progress',
  ],
);

const event = object(
  {
    index: integer(1),
    attempt: integer(1),
    type: eventType,
    msg: string,
    payload: freeObject,
    created_at: dateTime,
  },
  ['msg', 'payload'],
);

const inputSpec = object(
  {
    type: { type: 'string', enum: [...INPUT_TYPES] },
    required: { type: 'boolean' },
    default: {},
    description: string,
  },
  ['required', 'default', 'description'],
);

const definition = object(
  {
    id: pattern(DEFINITION_ID_PATTERN),
    version: pattern(VERSION_PATTERN),
    image: string,
    image_pull_policy: imagePullPolicy,
    description: string,
    input_specs: { type: 'object', additionalProperties: ref('InputSpec') },
    output_specs: freeObject,
    constraints: ref('Constraints'),
    retry_policy: ref('RetryPolicy'),
    event_delivery: ref('EventDelivery'),
    created_at: dateTime,
    updated_at: dateTime,
  },
  ['description', 'image_pull_policy'],
);

const gpu = object({ id: integer(0), vram_mb: integer(0), tags: arrayOf(string) });
const workerProperties = {
  id: pattern(WORKER_ID_PATTERN),
  resources: object({ cpu_cores: number(0), ram_mb: integer(0), gpus: arrayOf(gpu) }),
  tags: arrayOf(string),
  running_ops: arrayOf(string),
  status: { type: 'string', enum: ['active', 'evicted'] },
  created_at: dateTime,
  last_heartbeat_at: dateTime,
  evicted_at: dateTime,
  images: { ...arrayOf(string), description: 'Images the worker holds (repo tags and digests), from its heartbeat' },
  /** What the server has not reserved; negative when a worker shrank under running work. */
  free: object({
    cpu_cores: number(),
    ram_mb: integer(),
    gpus: arrayOf(object({ id: integer(0), vram_mb: integer(0), free_vram_mb: integer(), tags: arrayOf(string) })),
  }),
};

const workerOp = object(
  {
    id: pattern(RUN_ID_PATTERN),
    attempt: integer(1),
    image: string,
    image_pull_policy: imagePullPolicy,
    inputs: freeObject,
    constraints: ref('Constraints'),
    gpu_ids: arrayOf(integer(0)),
    assignment_id: {
      ...pattern(ASSIGNMENT_ID_PATTERN),
      description:
        'This assignment of the run: name it (with the attempt) in every report, or the report may be refused',
    },
    definition_id: pattern(DEFINITION_ID_PATTERN),
    definition_version: pattern(VERSION_PATTERN),
  },
  ['definition_id', 'definition_version', 'image_pull_policy'],
);

const errorBody = object(
  {
    code: string,
    message: string,
    details: arrayOf(object({ field: string, message: string })),
  },
  ['details'],
);
const error = object({ error: errorBody });

/** One result of POST /workers/{id}/events: the run after the report, or the report's error. */
const reportResult: Schema = {
  oneOf: [
    object({
      run_id: pattern(RUN_ID_PATTERN),
      status: { type: 'integer', const: 200 },
      state: runState,
      current_attempt: integer(1),
    }),
    object({
      run_id: { type: ['string', 'null'], description: 'As reported; null when it was not a string' },
      status: { type: 'integer', minimum: 400, maximum: 599 },
      error: errorBody,
    }),
  ],
};

/** Every answer's schema, by the name routes give in `success.schema`. */
export const RESPONSE_SCHEMAS = {
  Constraints: constraints,
  RetryPolicy: retryPolicy,
  EventDelivery: eventDelivery,
  InputSpec: inputSpec,
  OpAttempt: attempt,
  OpAttemptList: arrayOf(ref('OpAttempt')),
  OpRun: run,
  RunPage: object(
    { runs: arrayOf(ref('OpRun')), next_cursor: { type: 'string', description: 'Pass as ?cursor= for the next page' } },
    ['next_cursor'],
  ),
  RunEvent: event,
  EventPage: object({ events: arrayOf(ref('RunEvent')), state: runState }),
  OpDefinition: definition,
  OpDefinitionList: arrayOf(ref('OpDefinition')),
  Deleted: object({ deleted: integer(1) }),
  Worker: object(workerProperties, ['evicted_at', 'images']),
  WorkerList: arrayOf(ref('Worker')),
  HeartbeatAnswer: object(
    {
      ...workerProperties,
      stop_runs: { ...arrayOf(string), description: 'Reported runs the worker must stop' },
      held_digest: {
        type: 'string',
        pattern: HELD_DIGEST_PATTERN.source,
        description: 'The digest of the runs the server holds on the worker (count and XOR of their id hashes)',
      },
      running_ops_wanted: {
        type: 'boolean',
        description: "The held_digest sent differs from the server's: list running_ops in the next heartbeat",
      },
    },
    // running_ops is left out of the answer to a heartbeat that sent held_digest.
    ['evicted_at', 'images', 'running_ops'],
  ),
  WorkerOp: workerOp,
  ClaimAnswer: object({ ops: arrayOf(ref('WorkerOp')) }),
  ReportEventsAnswer: object({ results: arrayOf(reportResult) }),
  Health: object({ status: { type: 'string', const: 'ok' } }),
  Ready: object({ status: { type: 'string', const: 'ready' }, store: string }),
  OpenApiDocument: { type: 'object', description: 'This document' },
  /** One Server-Sent Event of a run's stream (keep-alive comments are not events). */
  RunEventStream: object(
    {
      id: { type: 'string', pattern: '^[0-9]+$', description: 'The event index' },
      event: eventType,
      data: {
        type: 'string',
        description: 'The RunEvent as JSON',
        contentMediaType: 'application/json',
        contentSchema: ref('RunEvent'),
      },
    },
    ['id', 'event'],
  ),
  /** Non-JSON answers: their content type says the format. */
  Text: string,
  Error: error,
  ...STATS_SCHEMAS,
  ...DELIVERY_SCHEMAS,
} satisfies Record<string, Schema>;

export type ResponseSchemaName = keyof typeof RESPONSE_SCHEMAS;
