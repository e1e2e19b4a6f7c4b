import { RUN_ID_PATTERN } from '@gyoza/domain';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsObject, Matches } from 'class-validator';
import { JSONSchema } from 'class-validator-jsonschema';
import { FreeForm } from '../validation';
import { PostEventDto } from './run.dto';

/** Most reports one POST /workers/{id}/events carries. */
export const MAX_REPORTED_EVENTS = 500;

/** One report of POST /workers/{id}/events: POST /runs/{id}/events' body and the run it is for. */
export class ReportedEventDto extends PostEventDto {
  @Matches(RUN_ID_PATTERN) run_id!: string;
}

/**
 * POST /workers/{id}/events: reports for many runs in one request. The list is kept as parsed
 * (not class-transformed) and each item is validated on its own, so one bad report gets its
 * own 400 in the answer while the others are applied.
 */
export class ReportEventsDto {
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_REPORTED_EVENTS)
  @IsObject({ each: true })
  @FreeForm()
  @JSONSchema({ items: { $ref: '#/components/schemas/ReportedEventDto' } })
  events!: Record<string, unknown>[];
}
