import { HELD_DIGEST_PATTERN, MAX_WORKER_IMAGES } from '@gyoza/domain';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsInt,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateNested,
} from 'class-validator';
import { FreeForm, IsCleanText } from '../validation';

export class GpuDto {
  @IsInt() @Min(0) id!: number;
  @IsInt() @Min(0) vram_mb!: number;
  @IsOptional() @IsArray() @IsString({ each: true }) @IsCleanText({ each: true }) tags?: string[];
}

export class ResourcesDto {
  /** Bounded so free capacity (in thousandths of a core) stays a finite number. */
  @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) @Max(1_000_000) cpu_cores!: number;
  @IsInt() @Min(0) ram_mb!: number;
  @IsOptional() @IsArray() @ArrayMaxSize(64) @ValidateNested({ each: true }) @Type(() => GpuDto) gpus?: GpuDto[];
}

/** POST /workers/heartbeat. `running_ops` holds run ids or `{id, …}` objects. */
export class HeartbeatDto {
  @IsString() @MinLength(1) @IsCleanText() worker_id!: string;
  @IsObject() @ValidateNested() @Type(() => ResourcesDto) resources!: ResourcesDto;
  @IsOptional() @IsArray() @IsString({ each: true }) @IsCleanText({ each: true }) tags?: string[];
  /** Checked by the route (a run id or `{id, …}` each). */
  @IsOptional() @IsArray() @ArrayMaxSize(1000) @FreeForm() running_ops?: unknown[];
  /**
   * Instead of `running_ops`: the digest of the run ids the worker runs (`heldRunsDigest`,
   * `<count>:<16 hex digits>`); ignored when `running_ops` is sent.
   */
  @IsOptional()
  @IsString()
  @Matches(HELD_DIGEST_PATTERN, { message: 'held_digest must be <count>:<16 lowercase hex digits>' })
  held_digest?: string;
  /** Image references the worker holds (repo tags and digests). */
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MAX_WORKER_IMAGES)
  @IsString({ each: true })
  @MinLength(1, { each: true })
  @MaxLength(512, { each: true })
  @IsCleanText({ each: true })
  images?: string[];
}
