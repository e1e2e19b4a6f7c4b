import {
  ASSIGNMENT_ID_PATTERN,
  type FieldIssue,
  MAX_EVENT_TEXT_LENGTH,
  parseProgress,
  RUN_STATES,
  type RunState,
  WORKER_EVENT_TYPES,
  type WorkerEventType,
} from '@gyoza/domain';
import { Type } from 'class-transformer';
import {
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { uncleanTextReason } from '../json-limits';
import { type CrossFieldChecked, FreeForm, IsCleanText, IsOmittable, IsStringOrNumber } from '../validation';
import { EventDeliveryDto, IsDefinitionId, IsDefinitionVersion, RetryPolicyDto, RunOverridesDto } from './common.dto';

/** POST /runs: from a definition (`definition_id`, `version`) or ad hoc (`image`, policies). */
export class CreateRunDto extends RunOverridesDto {
  @IsOptional() @IsString() @IsDefinitionId() definition_id?: string;
  @IsOptional() @IsString() @IsDefinitionVersion() version?: string;
  @IsOptional() @IsString() @IsCleanText() image?: string;
  @IsOptional() @ValidateNested() @Type(() => RetryPolicyDto) retry_policy?: RetryPolicyDto;
  @IsOptional() @ValidateNested() @Type(() => EventDeliveryDto) event_delivery?: EventDeliveryDto;
}

/** POST /definitions/{name}/runs. */
export class CreateRunFromDefinitionDto extends RunOverridesDto {}

/** Every state but ASSIGNED, which only the scheduler gives. */
export const PATCHABLE_STATES: readonly RunState[] = RUN_STATES.filter((s) => s !== 'ASSIGNED');

/** PATCH /runs/{id}: each field applies its domain transition. */
export class PatchRunDto {
  @IsOptional() @IsIn(PATCHABLE_STATES) state?: string;
  @IsOptional() @IsObject() @FreeForm() outputs?: Record<string, unknown>;
  @IsOptional() @IsInt() priority?: number;
  @IsOptional() @IsString() @MaxLength(10_000) error_message?: string;
}

export class CancelRunDto {
  @IsOptional() @IsString() @MaxLength(2000) reason?: string;
}

/** POST /runs/{id}/release: the assigned worker hands back a run it claimed but will not start. */
export class ReleaseRunDto {
  @IsString() @IsCleanText() worker_id!: string;
  @IsOmittable() @IsInt() @Min(1) attempt?: number;
  /** The assignment from the claim answer; a stale one is refused (STALE_ASSIGNMENT). */
  @IsOmittable() @IsString() @Matches(ASSIGNMENT_ID_PATTERN) assignment_id?: string;
  @IsOptional() @IsString() @MaxLength(2000) reason?: string;
}

const isPlainObject = (value: unknown) => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * POST /runs/{id}/events (the worker's reports), with the payload of each type (docs/api.md):
 * STARTED `{worker_id?, gpu_id?}`, PROGRESS `msg` 0..100, COMPLETED `{outputs?}`, FAILED
 * `{error_message?, retryable?}` (false: not retried automatically). All of it is checked here, before the run's
 * state is looked at.
 */
export class PostEventDto implements CrossFieldChecked {
  @IsIn(WORKER_EVENT_TYPES) type!: WorkerEventType;
  /** PROGRESS: 0..100 (a number or a numeric string); otherwise free text. */
  @IsOptional() @IsStringOrNumber() @FreeForm() msg?: string | number;
  @IsOptional() @IsObject() @FreeForm() payload?: Record<string, unknown>;
  // The fencing fields may be left out, not sent as null (which would read as a mismatch).
  @IsOmittable() @IsInt() @Min(1) attempt?: number;
  @IsOmittable() @IsString() @IsCleanText() worker_id?: string;
  /**
   * The assignment from the claim answer (fencing): a report naming an older assignment of the
   * run is refused with STALE_ASSIGNMENT. Without it (curl users) the report is not fenced.
   */
  @IsOmittable() @IsString() @Matches(ASSIGNMENT_ID_PATTERN) assignment_id?: string;

  crossFieldIssues(): FieldIssue[] {
    const issue = (field: string, message: string) => [{ field, message }];
    const payload = this.payload ?? {};
    const given = (key: string) => payload[key] !== undefined && payload[key] !== null;
    const tooLong = `must be at most ${MAX_EVENT_TEXT_LENGTH} characters`;
    if (typeof this.msg === 'string' && this.msg.length > MAX_EVENT_TEXT_LENGTH) return issue('msg', tooLong);
    switch (this.type) {
      case 'PROGRESS':
        try {
          parseProgress(this.msg);
          return [];
        } catch {
          return issue('msg', 'PROGRESS must be a number from 0 to 100');
        }
      case 'STARTED':
        if (given('gpu_id') && !Number.isInteger(payload.gpu_id)) return issue('payload.gpu_id', 'must be an integer');
        if (given('worker_id')) {
          if (typeof payload.worker_id !== 'string') return issue('payload.worker_id', 'must be a string');
          const unclean = uncleanTextReason(payload.worker_id);
          if (unclean) return issue('payload.worker_id', unclean);
        }
        return [];
      case 'COMPLETED':
        return given('outputs') && !isPlainObject(payload.outputs) ? issue('payload.outputs', 'must be an object') : [];
      case 'FAILED':
        if (given('retryable') && typeof payload.retryable !== 'boolean') {
          return issue('payload.retryable', 'must be a boolean');
        }
        if (given('error_message') && typeof payload.error_message !== 'string') {
          return issue('payload.error_message', 'must be a string');
        }
        return given('error_message') && (payload.error_message as string).length > MAX_EVENT_TEXT_LENGTH
          ? issue('payload.error_message', tooLong)
          : [];
      default:
        return [];
    }
  }
}

export class ListRunsQuery {
  /** One state, a comma list, or the parameter repeated. */
  @IsOptional() @IsIn(RUN_STATES, { each: true }) state?: RunState[];
  @IsOptional() @IsString() @IsCleanText() definition_id?: string;
  @IsOptional() @IsString() @IsCleanText() worker_id?: string;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000) limit?: number;
  @IsOptional() @IsString() @IsCleanText() cursor?: string;
}

export class EventsQuery {
  @IsOptional() @Type(() => Number) @IsInt() @Min(0) after?: number;
}

export class ClaimQuery {
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(100) limit?: number;
  @IsOptional() @Type(() => Number) @Min(0) @Max(60) wait_seconds?: number;
}
