import type { Scheduler } from '@gyoza/scheduler';
import type { Store } from '@gyoza/store';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import type { ApiMetrics } from './metrics';
import type { ResponseSchemaName } from './openapi-schemas';

export interface ApiContext {
  store: Store;
  scheduler: Scheduler;
  clock: () => Date;
  logger: Logger;
  metrics: ApiMetrics;
  /** Aborted when the server shuts down: event streams end at once (clients resume elsewhere). */
  shutdown: AbortSignal;
}

export type Dto = new () => object;

/**
 * One route: how Express serves it and how OpenAPI describes it, from the same entry, so
 * the spec cannot miss a route.
 */
export interface RouteSpec {
  method: 'get' | 'post' | 'patch' | 'delete';
  /** Express syntax: `/runs/:id`. */
  path: string;
  tag: string;
  summary: string;
  body?: Dto;
  /** The body may be left out (the handler reads it as `{}`). */
  bodyOptional?: boolean;
  query?: Dto;
  /** Patterns of the path parameters (`id` of `/runs/:id`: RUN_ID_PATTERN), for the spec. */
  params?: Record<string, RegExp>;
  /** Request headers the route reads, for the spec. */
  headers?: readonly { name: string; description: string; pattern?: RegExp }[];
  /** Success status and what it returns (a schema of openapi-schemas.ts), for the spec. */
  success: {
    status: number;
    description: string;
    schema: ResponseSchemaName;
    /** Default `application/json`. */
    contentType?: string;
    /** A second success status with the same answer: 200 for an idempotent replay of a 201. */
    replay?: { status: number; description: string };
  };
  /** Served without X-API-Key. */
  open?: boolean;
  handler(req: Request, res: Response, ctx: ApiContext): Promise<void> | void;
}
