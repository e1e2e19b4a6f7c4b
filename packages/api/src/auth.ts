import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { HttpError } from './http-errors';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** `X-API-Key` must equal the key; compared as hashes in constant time (no length leak). */
export function requireApiKey(apiKey: string, open: readonly string[]): RequestHandler {
  const expected = digest(apiKey);
  return (req, _res, next) => {
    if (open.includes(req.path)) return next();
    const given = req.get('x-api-key');
    if (given === undefined || !timingSafeEqual(digest(given), expected)) {
      return next(new HttpError('UNAUTHORIZED', given === undefined ? 'missing X-API-Key' : 'wrong X-API-Key'));
    }
    next();
  };
}
