import { IMAGE_PULL_POLICIES, type ImagePullPolicy } from '@gyoza/domain';
import { Type } from 'class-transformer';
import { IsIn, IsObject, IsOptional, IsString, MaxLength, ValidateNested } from 'class-validator';
import { FreeForm, IsCleanText } from '../validation';
import { ConstraintsDto, EventDeliveryDto, IsDefinitionVersion, RetryPolicyDto } from './common.dto';

/** POST /definitions. Id, version and image rules are the domain's (named in its errors). */
export class DefinitionDto {
  @IsString() @IsCleanText() id!: string;
  @IsString() @IsCleanText() version!: string;
  @IsString() @IsCleanText() image!: string;
  /** Absent: the worker's default. */
  @IsOptional() @IsIn(IMAGE_PULL_POLICIES) image_pull_policy?: ImagePullPolicy;
  @IsOptional() @IsString() @MaxLength(10_000) description?: string;
  /** name -> {type, required, default, description}; checked by the domain. */
  @IsOptional() @IsObject() @FreeForm() input_specs?: Record<string, unknown>;
  @IsOptional() @IsObject() @FreeForm() output_specs?: Record<string, unknown>;
  @IsOptional() @ValidateNested() @Type(() => ConstraintsDto) constraints?: ConstraintsDto;
  @IsOptional() @ValidateNested() @Type(() => RetryPolicyDto) retry_policy?: RetryPolicyDto;
  @IsOptional() @ValidateNested() @Type(() => EventDeliveryDto) event_delivery?: EventDeliveryDto;
}

export class VersionQuery {
  @IsOptional() @IsString() @IsDefinitionVersion() version?: string;
}

export class ListDefinitionsQuery {
  /** `true`: only the latest version of each id. */
  @IsOptional() @IsIn(['true', 'false']) latest?: 'true' | 'false';
}
