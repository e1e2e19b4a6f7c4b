import { Type } from 'class-transformer';
import { IsIn, IsInt, IsObject, IsOptional, IsString, Max, MaxLength, Min, ValidateNested } from 'class-validator';
import { EventDeliveryDto, RetryPolicyDto, RunOverridesDto } from './common.dto';

/** POST /runs: from a definition (`definition_id`, `version`) or ad hoc (`image`, policies). */
export class CreateRunDto extends RunOverridesDto {
  @IsOptional() @IsString() definition_id?: string;
  @IsOptional() @IsString() version?: string;
  @IsOptional() @IsString() image?: string;
  @IsOptional() @ValidateNested() @Type(() => RetryPolicyDto) retry_policy?: RetryPolicyDto;
  @IsOptional() @ValidateNested() @Type(() => EventDeliveryDto) event_delivery?: EventDeliveryDto;
}

/** POST /definitions/{name}/runs. */
export class CreateRunFromDefinitionDto extends RunOverridesDto {}

export const PATCHABLE_STATES = ['PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'];

/** PATCH /runs/{id}: each field applies its domain transition. */
export class PatchRunDto {
  @IsOptional() @IsIn(PATCHABLE_STATES) state?: string;
  @IsOptional() @IsObject() outputs?: Record<string, unknown>;
  @IsOptional() @IsInt() priority?: number;
  @IsOptional() @IsString() @MaxLength(10_000) error_message?: string;
}

export class CancelRunDto {
  @IsOptional() @IsString() @MaxLength(2000) reason?: string;
}

export const EVENT_TYPES = ['STARTED', 'PROGRESS', 'COMPLETED', 'FAILED', 'CANCELLED', 'LOG', 'INFO'];

/** POST /runs/{id}/events (the worker's reports). */
export class PostEventDto {
  @IsIn(EVENT_TYPES) type!: string;
  /** PROGRESS: 0..100; otherwise free text. */
  @IsOptional() msg?: string | number;
  @IsOptional() @IsObject() payload?: Record<string, unknown>;
  @IsOptional() @IsInt() @Min(1) attempt?: number;
  @IsOptional() @IsString() worker_id?: string;
}

export const RUN_STATE_NAMES = ['PENDING', 'ASSIGNED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'];

export class ListRunsQuery {
  /** One state, a comma list, or the parameter repeated. */
  @IsOptional() @IsIn(RUN_STATE_NAMES, { each: true }) state?: string[];
  @IsOptional() @IsString() definition_id?: string;
  @IsOptional() @IsString() worker_id?: string;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000) limit?: number;
  @IsOptional() @IsString() cursor?: string;
}

export class EventsQuery {
  @IsOptional() @Type(() => Number) @IsInt() @Min(0) after?: number;
}

export class ClaimQuery {
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(100) limit?: number;
  @IsOptional() @Type(() => Number) @Min(0) @Max(60) wait_seconds?: number;
}
