import { type Constraints, type ConstraintsInput, normalizeConstraints } from './constraints';
import { type FieldIssue, ValidationError } from './errors';
import { type EventDelivery, normalizeEventDelivery } from './event-delivery';
import { type InputSpecs, validateInputSpecs } from './inputs';
import { normalizeRetryPolicy, type RetryPolicy, type RetryPolicyInput } from './retry';

export const DEFINITION_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,127}$/;
export const VERSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;

/**
 * When a worker pulls a run's image before creating its container: only when the worker lacks
 * it, every time (a moving tag such as `:latest`), or never (images loaded by hand; a missing
 * one fails the attempt for good). A run or definition without one gets the worker's default.
 */
export const IMAGE_PULL_POLICIES = ['if-not-present', 'always', 'never'] as const;
export type ImagePullPolicy = (typeof IMAGE_PULL_POLICIES)[number];

/**
 * A deployed op, keyed by (id, version). Upserting the same key replaces it and keeps its
 * `created_at`; a new version is a new entry. "Latest" is the version created most recently.
 */
export interface OpDefinition {
  id: string;
  version: string;
  image: string;
  /** Absent: the worker's default (`if-not-present` unless it was started otherwise). */
  image_pull_policy?: ImagePullPolicy;
  description?: string;
  input_specs: InputSpecs;
  output_specs: Record<string, unknown>;
  constraints: Constraints;
  retry_policy: RetryPolicy;
  event_delivery: EventDelivery;
  created_at: Date;
  updated_at: Date;
}

export interface OpDefinitionInput {
  id: string;
  version: string;
  image: string;
  image_pull_policy?: ImagePullPolicy | null;
  description?: string | null;
  input_specs?: InputSpecs | null;
  output_specs?: Record<string, unknown> | null;
  constraints?: ConstraintsInput | null;
  retry_policy?: RetryPolicyInput | null;
  event_delivery?: EventDelivery | null;
}

export function validateDefinitionId(id: unknown, field = 'id'): string {
  if (typeof id !== 'string' || !DEFINITION_ID_PATTERN.test(id)) {
    throw ValidationError.field(field, `must match ${DEFINITION_ID_PATTERN.source}`);
  }
  return id;
}

export function validateVersion(version: unknown, field = 'version'): string {
  if (typeof version !== 'string' || !VERSION_PATTERN.test(version)) {
    throw ValidationError.field(field, `must match ${VERSION_PATTERN.source}`);
  }
  return version;
}

export function validateImage(image: unknown, field = 'image'): string {
  if (typeof image !== 'string' || image.trim() === '' || image.length > 512 || /\s/.test(image)) {
    throw ValidationError.field(field, 'must be a Docker image reference without spaces');
  }
  return image;
}

/** A pull policy, or undefined when none is given (the worker's default then applies). */
export function validatePullPolicy(policy: unknown, field = 'image_pull_policy'): ImagePullPolicy | undefined {
  if (policy === undefined || policy === null) return undefined;
  if (typeof policy !== 'string' || !(IMAGE_PULL_POLICIES as readonly string[]).includes(policy)) {
    throw ValidationError.field(field, `must be one of ${IMAGE_PULL_POLICIES.join(', ')}`);
  }
  return policy as ImagePullPolicy;
}

/** Collects every field problem at once, so the caller sees all of them in one answer. */
function collect<T>(issues: FieldIssue[], fn: () => T): T | undefined {
  try {
    return fn();
  } catch (error) {
    if (error instanceof ValidationError) {
      issues.push(...(error.details ?? []));
      return undefined;
    }
    throw error;
  }
}

/**
 * Builds the definition to store. `existing` is the stored entry with the same id and version,
 * whose `created_at` is kept so a re-deploy does not make an old version "latest".
 */
export function defineOp(input: OpDefinitionInput, now: Date, existing?: OpDefinition | null): OpDefinition {
  const issues: FieldIssue[] = [];
  const id = collect(issues, () => validateDefinitionId(input.id));
  const version = collect(issues, () => validateVersion(input.version));
  const image = collect(issues, () => validateImage(input.image));
  const pullPolicy = collect(issues, () => validatePullPolicy(input.image_pull_policy));
  const input_specs = collect(issues, () => validateInputSpecs(input.input_specs));
  const constraints = collect(issues, () => normalizeConstraints(input.constraints));
  const retry_policy = collect(issues, () => normalizeRetryPolicy(input.retry_policy));
  const event_delivery = collect(issues, () => normalizeEventDelivery(input.event_delivery));
  const output_specs = input.output_specs ?? {};
  if (typeof output_specs !== 'object' || Array.isArray(output_specs)) {
    issues.push({ field: 'output_specs', message: 'must be an object' });
  }
  if (input.description !== undefined && input.description !== null && typeof input.description !== 'string') {
    issues.push({ field: 'description', message: 'must be a string' });
  }
  if (issues.length > 0) throw new ValidationError('invalid op definition', issues);
  const definition: OpDefinition = {
    id: id as string,
    version: version as string,
    image: image as string,
    input_specs: input_specs as InputSpecs,
    output_specs,
    constraints: constraints as Constraints,
    retry_policy: retry_policy as RetryPolicy,
    event_delivery: event_delivery as EventDelivery,
    created_at: existing?.created_at ?? now,
    updated_at: now,
  };
  if (pullPolicy !== undefined) definition.image_pull_policy = pullPolicy;
  if (typeof input.description === 'string') definition.description = input.description;
  return definition;
}

/** Newest first: by created_at, then version, so "latest" is well defined on equal clocks. */
export function compareNewestFirst(a: OpDefinition, b: OpDefinition): number {
  const byTime = b.created_at.getTime() - a.created_at.getTime();
  if (byTime !== 0) return byTime;
  return a.version < b.version ? 1 : a.version > b.version ? -1 : 0;
}

export function latestVersion(definitions: readonly OpDefinition[]): OpDefinition | undefined {
  return [...definitions].sort(compareNewestFirst)[0];
}
