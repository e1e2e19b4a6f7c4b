/** Event types a worker may post. */
export const WORKER_EVENT_TYPES = ['STARTED', 'PROGRESS', 'COMPLETED', 'FAILED', 'CANCELLED', 'LOG', 'INFO'] as const;
export type WorkerEventType = (typeof WORKER_EVENT_TYPES)[number];
/** Lifecycle events the server records itself. */
export const SERVER_EVENT_TYPES = ['CREATED', 'ASSIGNED', 'UNASSIGNED', 'RETRIED', 'TIMED_OUT', 'WORKER_LOST'] as const;
export type ServerEventType = (typeof SERVER_EVENT_TYPES)[number];
export type RunEventType = WorkerEventType | ServerEventType;
/**
 * Most characters of an event's text (`msg`, a FAILED `error_message`): a worker splits or cuts
 * longer output, so no one event makes a page of events huge.
 */
export const MAX_EVENT_TEXT_LENGTH = 65_536;
/** Every type of event a run records. */
export const RUN_EVENT_TYPES: readonly RunEventType[] = [...SERVER_EVENT_TYPES, ...WORKER_EVENT_TYPES];
