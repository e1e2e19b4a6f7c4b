import {
  DEFINITION_ID_PATTERN,
  IMAGE_PULL_POLICIES,
  type ImagePullPolicy,
  RETRY_POLICY_LIMITS,
  VERSION_PATTERN,
} from '@gyoza/domain';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateNested,
} from 'class-validator';
import { FreeForm, IsCleanText } from '../validation';

/**
 * A definition id or version where a request names one (to read it, not to create it): the
 * domain's patterns, in its words, so a malformed one is a 400 naming the field, not a 404.
 */
export const IsDefinitionId = () =>
  Matches(DEFINITION_ID_PATTERN, { message: `must match ${DEFINITION_ID_PATTERN.source}` });
export const IsDefinitionVersion = () => Matches(VERSION_PATTERN, { message: `must match ${VERSION_PATTERN.source}` });

export class ConstraintsDto {
  @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) cpu_cores?: number;
  @IsOptional() @IsInt() @Min(0) ram_mb?: number;
  @IsOptional() @IsInt() @Min(0) vram_mb?: number;
  @IsOptional() @IsInt() @Min(0) @Max(64) gpu_count?: number;
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(64)
  @IsString({ each: true })
  @MinLength(1, { each: true })
  @IsCleanText({ each: true })
  gpu_tags?: string[];
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(64)
  @IsString({ each: true })
  @MinLength(1, { each: true })
  @IsCleanText({ each: true })
  worker_tags?: string[];
  @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) timeout_seconds?: number;
  /** The container's /dev/shm; absent or 0: Docker's 64 MB. */
  @IsOptional() @IsInt() @Min(0) @Max(1_048_576) shm_size_mb?: number;
}

/** The bounds are the domain's (RETRY_POLICY_LIMITS), so the OpenAPI document states them too. */
export class RetryPolicyDto {
  @IsOptional() @IsInt() @Min(1) @Max(RETRY_POLICY_LIMITS.max_attempts) max_attempts?: number;
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(RETRY_POLICY_LIMITS.backoff_seconds)
  backoff_seconds?: number;
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(1)
  @Max(RETRY_POLICY_LIMITS.backoff_multiplier)
  backoff_multiplier?: number;
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(RETRY_POLICY_LIMITS.max_backoff_seconds)
  max_backoff_seconds?: number;
}

export class EventDeliveryDto {
  @IsOptional() @IsUrl({ protocols: ['http', 'https'], require_tld: false }) webhook_url?: string;
  @IsOptional() @IsArray() @IsString({ each: true }) @IsCleanText({ each: true }) event_types?: string[];
  @IsOptional() @IsString() @MinLength(1) secret?: string;
}

export const INPUT_TYPE_NAMES = ['string', 'integer', 'number', 'boolean', 'object', 'array'];

export class InputSpecDto {
  @IsIn(INPUT_TYPE_NAMES) type!: string;
  @IsOptional() @IsBoolean() required?: boolean;
  @IsOptional() @FreeForm() default?: unknown;
  @IsOptional() @IsString() @MaxLength(2000) description?: string;
}

/** Shared by both ways of creating a run. */
export class RunOverridesDto {
  /** Absent: the definition's, else the worker's default. */
  @IsOptional() @IsIn(IMAGE_PULL_POLICIES) image_pull_policy?: ImagePullPolicy;
  @IsOptional() @IsObject() @FreeForm() inputs?: Record<string, unknown>;
  @IsOptional() @IsInt() priority?: number;
  @IsOptional() @ValidateNested() @Type(() => ConstraintsDto) constraints?: ConstraintsDto;
}
