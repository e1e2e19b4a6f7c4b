import { RUN_STATES, type RunState } from '@gyoza/domain';
import { Type } from 'class-transformer';
import { IsDate, IsIn, IsInt, IsOptional, IsString, Max, Min } from 'class-validator';
import { IsCleanText } from '../validation';

const ISO_DATE = '$property must be an ISO 8601 date-time (2026-12-04T10:00:00Z)';

/** GET /stats/throughput: how many one-minute buckets back from now. */
export class ThroughputQuery {
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1440) minutes?: number;
}

/**
 * GET /search/runs: the filters of GET /runs plus a creation-time range. Times are ISO 8601;
 * `created_after` is inclusive, `created_before` exclusive.
 */
export class SearchRunsQuery {
  /** One state, a comma list, or the parameter repeated. */
  @IsOptional() @IsIn(RUN_STATES, { each: true }) state?: RunState[];
  @IsOptional() @IsString() @IsCleanText() definition_id?: string;
  @IsOptional() @IsString() @IsCleanText() worker_id?: string;
  @IsOptional() @Type(() => Date) @IsDate({ message: ISO_DATE }) created_after?: Date;
  @IsOptional() @Type(() => Date) @IsDate({ message: ISO_DATE }) created_before?: Date;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000) limit?: number;
  @IsOptional() @IsString() @IsCleanText() cursor?: string;
}

const count = { type: 'integer', minimum: 0 };
const closed = (properties: Record<string, unknown>) => ({
  type: 'object',
  required: Object.keys(properties),
  properties,
  additionalProperties: false,
});

/** Response schemas of the stats routes, merged into the OpenAPI document's. */
export const STATS_SCHEMAS = {
  Stats: closed({
    runs_by_state: closed(Object.fromEntries(RUN_STATES.map((s) => [s, count]))),
    queue_depth: { ...count, description: 'PENDING runs' },
    workers: closed({ active: count, evicted: count }),
    gpus: {
      ...closed({ total: count, busy: count, free: count, vram_total_mb: count, vram_free_mb: count }),
      description: 'GPUs of active workers; busy: with any VRAM reserved',
    },
  }),
  Throughput: closed({
    bucket_seconds: { type: 'integer', const: 60 },
    buckets: {
      type: 'array',
      items: closed({
        start: { type: 'string', format: 'date-time' },
        created: count,
        completed: count,
        failed: count,
      }),
    },
    scanned: { ...count, description: 'Runs looked at (the most recent, at most 10000)' },
  }),
};
