import { Type } from 'class-transformer';
import { IsObject, IsOptional, IsString, MaxLength, ValidateNested } from 'class-validator';
import { ConstraintsDto, EventDeliveryDto, RetryPolicyDto } from './common.dto';

/** POST /definitions. Id, version and image rules are the domain's (named in its errors). */
export class DefinitionDto {
  @IsString() id!: string;
  @IsString() version!: string;
  @IsString() image!: string;
  @IsOptional() @IsString() @MaxLength(10_000) description?: string;
  /** name -> {type, required, default, description}; checked by the domain. */
  @IsOptional() @IsObject() input_specs?: Record<string, unknown>;
  @IsOptional() @IsObject() output_specs?: Record<string, unknown>;
  @IsOptional() @ValidateNested() @Type(() => ConstraintsDto) constraints?: ConstraintsDto;
  @IsOptional() @ValidateNested() @Type(() => RetryPolicyDto) retry_policy?: RetryPolicyDto;
  @IsOptional() @ValidateNested() @Type(() => EventDeliveryDto) event_delivery?: EventDeliveryDto;
}

export class VersionQuery {
  @IsOptional() @IsString() version?: string;
}
