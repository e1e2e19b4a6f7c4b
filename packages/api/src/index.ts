/**
 * gyoza's HTTP API: `createApp(options)` builds the Express app (every route in `ROUTES`, see
 * docs/api.md); `HttpError` is the error for problems only the HTTP edge sees (auth, parsing, routing).
 */
export { type AppOptions, createApp, ROUTES } from './app';
export { HttpError } from './http-errors';
export { ApiMetrics } from './metrics';
