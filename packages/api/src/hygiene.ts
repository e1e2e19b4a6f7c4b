import type { Express, Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';
import { HttpError } from './http-errors';
import type { RouteSpec } from './route';

/**
 * helmet's headers (nosniff, a CSP that Swagger UI's own scripts and styles satisfy),
 * framing denied both ways (X-Frame-Options and frame-ancestors), and no caching of
 * answers that may hold runs, outputs or keys. helmet's headers depend on its options
 * alone, never on the request: they are asked of helmet once, here, and every answer gets
 * the same list (helmet's own middleware makes a dozen calls per request to do it).
 */
export function securityHeaders(): RequestHandler {
  const headers = helmetHeaders(
    helmet({
      contentSecurityPolicy: {
        directives: {
          'frame-ancestors': ["'none'"],
          // Served over plain HTTP on a LAN as often as not: do not send browsers to https.
          'upgrade-insecure-requests': null,
        },
      },
      frameguard: { action: 'deny' },
    }),
  );
  headers.push(['Cache-Control', 'no-store']);
  return (_req, res, next) => {
    for (const [name, value] of headers) res.setHeader(name, value);
    next();
  };
}

/** The headers a helmet middleware sets, by running it once on a recording response. */
function helmetHeaders(middleware: RequestHandler): [string, string][] {
  const set: [string, string][] = [];
  const res = {
    setHeader(name: string, value: unknown) {
      if (typeof value !== 'string') throw new Error(`helmet set ${name} to a non-string`);
      set.push([name, value]);
    },
    removeHeader() {},
  };
  let called = false;
  middleware({} as Request, res as unknown as Response, (error?: unknown) => {
    if (error) throw error;
    called = true;
  });
  if (!called || set.length === 0) throw new Error('helmet did not set its headers synchronously');
  return set;
}

const METHOD_ORDER = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

/**
 * A known path asked with a method it does not have: 405 with `Allow`. OPTIONS answers 204
 * with the same `Allow`. Registered after the routes, so only unmatched methods get here.
 */
export function methodNotAllowed(app: Express, routes: readonly Pick<RouteSpec, 'method' | 'path'>[]): void {
  const methods = new Map<string, Set<string>>();
  for (const route of routes) {
    const set = methods.get(route.path) ?? new Set<string>();
    set.add(route.method.toUpperCase());
    if (route.method === 'get') set.add('HEAD');
    methods.set(route.path, set);
  }
  for (const [path, set] of methods) {
    const allow = [...METHOD_ORDER.filter((m) => set.has(m)), 'OPTIONS'].join(', ');
    app.all(path, (req, res, next) => {
      res.setHeader('Allow', allow);
      if (req.method === 'OPTIONS') {
        res.status(204).end();
        return;
      }
      next(new HttpError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${path}; allowed: ${allow}`));
    });
  }
}
