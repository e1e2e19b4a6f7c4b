import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import type { Logger } from 'pino';
import { HttpError } from './http-errors';

const digest = (value: string) => createHash('sha256').update(value).digest();

export interface AuthOptions {
  /** Failed authentications one client address may make per minute before it gets 429. */
  failuresPerMinute: number;
  logger: Logger;
}

/**
 * `X-API-Key` must equal the key; compared as hashes in constant time (no length leak).
 * Only failures count toward the per-address limit (express-rate-limit, in memory per
 * process, so `GYOZA_WORKERS` processes allow that many times the limit): past it, a failure
 * is a 429 with Retry-After, while a right key always passes. The address is `req.ip`: the
 * socket's, or the client's a trusted proxy forwards (`trustProxy`).
 */
export function requireApiKey(apiKey: string, open: readonly string[], options: AuthOptions): RequestHandler {
  const expected = digest(apiKey);
  const limitFailures = rateLimit({
    windowMs: 60_000,
    limit: options.failuresPerMinute,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    logger: options.logger,
    // An X-Forwarded-For from a proxy not trusted (GYOZA_TRUST_PROXY) is ignored on purpose:
    // the limit keys on the socket's address, without an error logged per request.
    validate: { xForwardedForHeader: false },
    handler: (_req, res, next) => {
      next(
        new HttpError(
          'RATE_LIMITED',
          `too many failed authentications from this address; retry after ${res.getHeader('Retry-After')} s`,
        ),
      );
    },
  });
  return (req, res, next) => {
    if (open.includes(req.path)) return next();
    const given = req.get('x-api-key');
    if (given !== undefined && timingSafeEqual(digest(given), expected)) return next();
    limitFailures(req, res, (error?: unknown) => {
      if (error) return next(error);
      next(new HttpError('UNAUTHORIZED', given === undefined ? 'missing X-API-Key' : 'wrong X-API-Key'));
    });
  };
}
