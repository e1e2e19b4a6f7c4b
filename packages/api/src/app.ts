import 'reflect-metadata';
import type { Scheduler } from '@gyoza/scheduler';
import type { Store } from '@gyoza/store';
import express, { type Express } from 'express';
import pino, { type Logger } from 'pino';
import swaggerUi from 'swagger-ui-express';
import { requireApiKey } from './auth';
import { checkPathParams, jsonBody, undecodablePath } from './body';
import { errorMiddleware, notFoundRoute } from './error-middleware';
import { methodNotAllowed, securityHeaders } from './hygiene';
import { ApiMetrics } from './metrics';
import { buildOpenApi } from './openapi';
import { requestLogging } from './request-log';
import type { ApiContext, RouteSpec } from './route';
import { definitionRoutes } from './routes/definitions';
import { deliveryRoutes } from './routes/deliveries';
import { runRoutes } from './routes/runs';
import { statsRoutes } from './routes/stats';
import { healthRoute, metricsRoute, readyRoute } from './routes/system';
import { workerEventRoutes } from './routes/worker-events';
import { workerRoutes } from './routes/workers';

export interface AppOptions {
  /** Where definitions, runs and workers live (required). */
  store: Store;
  /** Claims, long polls and the reaper (required; the app does not start or stop it). */
  scheduler: Scheduler;
  /** The key every route but `GET /health` asks for in `X-API-Key` (required). */
  apiKey: string;
  /**
   * The time used for state changes.
   * @defaultValue `() => new Date()`
   */
  clock?: () => Date;
  /**
   * pino logger for request logs and errors.
   * @defaultValue a silent logger
   */
  logger?: Logger;
  /**
   * Largest JSON body accepted (express/body-parser syntax); larger ones get 413.
   * @defaultValue `'1mb'`
   */
  bodyLimit?: string | number;
  /**
   * The version the OpenAPI document states.
   * @defaultValue `'0.1.0'`
   */
  version?: string;
  /**
   * Failed authentications one client address may make per minute; past them it gets 429
   * with Retry-After (a right key is never refused).
   * @defaultValue 20
   */
  authFailuresPerMinute?: number;
  /**
   * Addresses or CIDRs of reverse proxies whose `X-Forwarded-For` is believed (Express's
   * `trust proxy`): the client address (`req.ip`) is then the one they forward.
   * @defaultValue none (the socket's address)
   */
  trustProxy?: readonly string[];
  /**
   * The metrics `/metrics` serves; pass one to count what else the process does (webhook deliveries).
   * @defaultValue new ApiMetrics(store)
   */
  metrics?: ApiMetrics;
  /**
   * Aborted when the server shuts down: open event streams end at once, cleanly (a client
   * resumes with Last-Event-ID), instead of holding the shutdown until their sockets are cut.
   * @defaultValue never aborted
   */
  shutdown?: AbortSignal;
}

/** Every route, in the order Express matches them (`/runs/:id/events/stream` before nothing ambiguous). */
export const ROUTES: readonly RouteSpec[] = [
  healthRoute,
  readyRoute,
  ...definitionRoutes,
  ...runRoutes,
  ...workerRoutes,
  ...workerEventRoutes,
  ...statsRoutes,
  ...deliveryRoutes,
  metricsRoute,
];

/** The HTTP API as an Express app. No globals: each call gets its own metrics and state. */
export function createApp(options: AppOptions): Express {
  const logger = options.logger ?? pino({ level: 'silent' });
  const context: ApiContext = {
    store: options.store,
    scheduler: options.scheduler,
    clock: options.clock ?? (() => new Date()),
    logger,
    metrics: options.metrics ?? new ApiMetrics(options.store),
    shutdown: options.shutdown ?? new AbortController().signal,
  };
  const openapi = buildOpenApi([...ROUTES, ...DOC_ROUTES], options.version ?? '0.1.0');
  const app = express();
  app.disable('x-powered-by');
  // Answers are Cache-Control: no-store, so nothing revalidates: no ETag (a SHA-1 of every body).
  app.set('etag', false);
  app.set('query parser', 'extended');
  if (options.trustProxy?.length) app.set('trust proxy', [...options.trustProxy]);
  app.use(securityHeaders());
  app.use(requestLogging(app, logger, context.metrics));
  app.use(
    requireApiKey(
      options.apiKey,
      ROUTES.filter((r) => r.open).map((r) => r.path),
      { failuresPerMinute: options.authFailuresPerMinute ?? 20, logger },
    ),
  );
  // Only routes that take a body read one; the rest never parse what they are sent.
  const body = jsonBody(options.bodyLimit ?? '1mb');
  for (const route of ROUTES) {
    app[route.method](route.path, checkPathParams, ...(route.body ? body : []), (req, res) =>
      route.handler(req, res, context),
    );
  }
  app.get('/openapi.json', (_req, res) => {
    res.json(openapi);
  });
  app.use('/docs', swaggerUi.serve, swaggerUi.setup(openapi));
  methodNotAllowed(
    app,
    [...ROUTES, ...DOC_ROUTES].filter((r) => r.path !== '/docs'),
  );
  app.use(notFoundRoute);
  app.use(undecodablePath);
  app.use(errorMiddleware);
  return app;
}

/** Described in the spec; served by the app itself above. */
const DOC_ROUTES: RouteSpec[] = [
  {
    method: 'get',
    path: '/openapi.json',
    tag: 'system',
    summary: 'This OpenAPI 3.1 document',
    success: { status: 200, description: 'OpenAPI', schema: 'OpenApiDocument' },
    handler() {},
  },
  {
    method: 'get',
    path: '/docs',
    tag: 'system',
    summary: 'Swagger UI',
    success: { status: 200, description: 'HTML', schema: 'Text', contentType: 'text/html' },
    handler() {},
  },
];
