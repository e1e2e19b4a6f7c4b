import type { Scheduler } from '@gyoza/scheduler';
import type { Store } from '@gyoza/store';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import type { ApiMetrics } from './metrics';

export interface ApiContext {
  store: Store;
  scheduler: Scheduler;
  clock: () => Date;
  logger: Logger;
  metrics: ApiMetrics;
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
  query?: Dto;
  /** Success status and what it returns, for the spec. */
  success: { status: number; description: string; contentType?: string };
  /** Served without X-API-Key. */
  open?: boolean;
  handler(req: Request, res: Response, ctx: ApiContext): Promise<void> | void;
}
