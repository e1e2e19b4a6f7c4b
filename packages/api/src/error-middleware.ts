import { isGyozaError } from '@gyoza/domain';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { HttpError, STATUS_BY_CODE } from './http-errors';

interface BodyParserError {
  type?: string;
  status?: number;
}

export const notFoundRoute: RequestHandler = (req, _res, next) => {
  next(new HttpError(404, 'NOT_FOUND', `no route ${req.method} ${req.path}`));
};

/**
 * Maps every error to DESIGN.md's error body. Domain errors carry their code; body-parser's
 * are malformed or oversized input; anything else is our fault: logged, and answered
 * without details.
 */
export const errorMiddleware: ErrorRequestHandler = (error, req, res, _next) => {
  const parser = error as BodyParserError;
  let status: number;
  let body: { code: string; message: string; details?: unknown };
  if (error instanceof HttpError) {
    status = error.status;
    body = { code: error.code, message: error.message };
  } else if (isGyozaError(error)) {
    status = STATUS_BY_CODE[error.code] ?? 400;
    body = { code: error.code, message: error.message };
    if (error.details?.length) body.details = error.details;
  } else if (parser.type === 'entity.too.large') {
    status = 413;
    body = { code: 'PAYLOAD_TOO_LARGE', message: 'request body is too large' };
  } else if (parser.type === 'entity.parse.failed') {
    status = 400;
    body = { code: 'BAD_REQUEST', message: 'request body is not valid JSON' };
  } else if (typeof parser.status === 'number' && parser.status >= 400 && parser.status < 500) {
    status = parser.status;
    body = { code: 'BAD_REQUEST', message: 'bad request' };
  } else {
    status = 500;
    body = { code: 'INTERNAL', message: 'internal error' };
    req.log?.error({ err: error }, 'unhandled error');
  }
  if (res.headersSent) {
    res.end();
    return;
  }
  res.status(status).json({ error: body });
};
