import { existsSync } from 'node:fs';
import type { RequestListener } from 'node:http';
import { dirname, join } from 'node:path';
import express, { type Express } from 'express';
import helmet from 'helmet';
import type { Logger } from 'pino';

/** Where the dashboard's built files are: `dist/` of the @gyoza/dashboard package. */
export function dashboardDirectory(): string | undefined {
  try {
    return join(dirname(require.resolve('@gyoza/dashboard/package.json')), 'dist');
  } catch {
    return undefined;
  }
}

export interface DashboardOptions {
  /** The built files. @defaultValue {@link dashboardDirectory} */
  directory?: string;
  logger?: Logger;
}

/**
 * The API app with the dashboard in front of it: its files at `/ui` (a missing file under
 * `/ui/assets` is a 404; any other path under `/ui` gets index.html, for the app's own
 * routes) and `/` redirecting there. These files are public, like any login page: every API
 * call the dashboard makes still needs the key. Requests for any other path go straight to
 * the API app, as the front app would have sent them, without passing through a second
 * Express app first (~5 us a request).
 */
export function withDashboard(api: Express, options: DashboardOptions = {}): RequestListener {
  const directory = options.directory ?? dashboardDirectory();
  const index = directory === undefined ? undefined : join(directory, 'index.html');
  const built = index !== undefined && existsSync(index);
  if (!built) options.logger?.warn({ directory }, 'the dashboard is not built (pnpm build); /ui answers 503');
  const root = express();
  root.disable('x-powered-by');
  root.get('/', (_req, res) => res.redirect(302, '/ui/'));
  const ui = express.Router();
  ui.use(
    helmet({
      contentSecurityPolicy: {
        directives: {
          // Charts set inline style attributes; scripts come from these files only.
          'style-src': ["'self'", "'unsafe-inline'"],
          'img-src': ["'self'", 'data:'],
          // Plain http on a LAN address must keep working.
          'upgrade-insecure-requests': null,
        },
      },
    }),
  );
  if (built && directory !== undefined && index !== undefined) {
    ui.use(
      express.static(directory, {
        index: 'index.html',
        setHeaders(res, path) {
          // Bundles have content hashes in their names; index.html must be fetched afresh.
          res.setHeader(
            'Cache-Control',
            path.includes(`${join('assets', '')}`) ? 'public, max-age=31536000, immutable' : 'no-cache',
          );
        },
      }),
    );
    // A bundle this build lacks (a tab opened before an upgrade asks for its old chunks): index.html
    // in its place would be run as a script and fail obscurely, so say it is not here.
    ui.use('/assets', (_req, res) => {
      res.setHeader('Cache-Control', 'no-store');
      res.status(404).type('text/plain').send('No such file in this build of the dashboard: reload the page.\n');
    });
    ui.get('/{*path}', (_req, res) => {
      res.setHeader('Cache-Control', 'no-cache');
      res.sendFile(index);
    });
  } else {
    ui.use((_req, res) => {
      res.status(503).type('text/plain').send('The dashboard is not built: run `pnpm build`.\n');
    });
  }
  root.use('/ui', ui);
  root.use(api);
  return (req, res) => {
    if (forDashboard(req.url ?? '/')) root(req, res);
    else api(req, res);
  };
}

/**
 * The requests the front app answers itself (Express matches paths case-insensitively): `/`
 * and `/ui`, `/ui/...`; a request target that is not a plain path (absolute form, `*`) is
 * left to it too, which hands the API what is not its own.
 */
function forDashboard(url: string): boolean {
  if (!url.startsWith('/')) return true;
  const query = url.indexOf('?');
  const path = (query === -1 ? url : url.slice(0, query)).toLowerCase();
  return path === '/' || path === '' || path === '/ui' || path.startsWith('/ui/');
}
