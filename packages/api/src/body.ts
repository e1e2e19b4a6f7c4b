import { isUtf8 } from 'node:buffer';
import { ValidationError } from '@gyoza/domain';
import express, { type ErrorRequestHandler, type Request, type RequestHandler } from 'express';
import { HttpError } from './http-errors';
import { scanJsonLimits, uncleanTextReason } from './json-limits';

/** A body is there when its length is announced and not zero, or it is chunked. */
function hasBody(req: Request): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * `application/json`, with no charset or `utf-8`; anything else is a 415. A request
 * without a body passes, so routes whose body is optional (cancel) work without one.
 */
const requireJsonType: RequestHandler = (req, _res, next) => {
  if (!hasBody(req)) return next();
  const [media = '', ...params] = (req.get('content-type') ?? '').split(';');
  const charset = params
    .map((p) => p.trim().toLowerCase())
    .find((p) => p.startsWith('charset='))
    ?.slice('charset='.length)
    .replace(/^"(.*)"$/, '$1');
  if (media.trim().toLowerCase() !== 'application/json' || (charset !== undefined && charset !== 'utf-8')) {
    return next(
      new HttpError('UNSUPPORTED_MEDIA_TYPE', 'a request body must be Content-Type: application/json (charset utf-8)'),
    );
  }
  next();
};

/**
 * The body pipeline of a route that takes one: media type, then JSON within the size limit
 * whose raw bytes must be valid UTF-8 (the decoder would otherwise turn them into U+FFFD)
 * and within the depth and size bounds before JSON.parse spends time on them. Reserved keys
 * (and the bounds again, on the value) are checked by `parseDto`, before any DTO sees it.
 */
export function jsonBody(limit: string | number): RequestHandler[] {
  const parse = express.json({
    limit,
    strict: false,
    type: 'application/json',
    verify: (_req, _res, raw) => {
      if (!isUtf8(raw)) throw ValidationError.field('body', 'is not valid UTF-8');
      scanJsonLimits(raw, 'body');
    },
  });
  return [requireJsonType, parse];
}

/** Path parameters are ids: no NUL, no U+FFFD, no unpaired surrogates (400 naming the parameter). */
export const checkPathParams: RequestHandler = (req, _res, next) => {
  for (const [name, value] of Object.entries(req.params ?? {})) {
    const reason = typeof value === 'string' ? uncleanTextReason(value) : undefined;
    if (reason) return next(ValidationError.field(name, reason));
  }
  next();
};

/**
 * The router refuses a path whose percent-encoding is not UTF-8 (`/runs/%FF`) with a bare
 * URIError; this names it like any other field.
 */
export const undecodablePath: ErrorRequestHandler = (error, req, _res, next) => {
  if (error instanceof URIError) {
    return next(ValidationError.field('path', `${req.path} is not valid percent-encoded UTF-8`));
  }
  next(error);
};
