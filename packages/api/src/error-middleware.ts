import { type ErrorCode, httpStatusOf, isGyozaError } from '@gyoza/domain';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { HttpError } from './http-errors';

interface BodyParserError {
  type?: string;
  status?: number;
}

export const notFoundRoute: RequestHandler = (req, _res, next) => {
  next(new HttpError('NOT_FOUND', `no route ${req.method} ${req.path}`));
};

/** body-parser's refusals (`err.type`) as codes; any other 4xx of its own is a BAD_REQUEST. */
const PARSER_ERRORS: Readonly<Record<string, { code: ErrorCode; message: string }>> = {
  'entity.too.large': { code: 'PAYLOAD_TOO_LARGE', message: 'request body is too large' },
  'entity.parse.failed': { code: 'BAD_REQUEST', message: 'request body is not valid JSON' },
  'encoding.unsupported': { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'unsupported content encoding' },
  'charset.unsupported': { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'unsupported charset' },
};

/**
 * Maps every error to the API's error body, `{ error: { code, message, details? } }`, with
 * the status declared beside the code in `ERROR_CODES`. Our own errors carry their code;
 * body-parser's are malformed or oversized input; anything else is our fault: logged, and
 * answered without details.
 */
export const errorMiddleware: ErrorRequestHandler = (error, req, res, _next) => {
  const parser = error as BodyParserError;
  let body: { code: ErrorCode; message: string; details?: unknown };
  if (isGyozaError(error)) {
    body = { code: error.code, message: error.message };
    if (error.details?.length) body.details = error.details;
    if (httpStatusOf(error.code) >= 500) req.log?.error({ err: error }, 'server error');
  } else if (parser.type !== undefined && parser.type in PARSER_ERRORS) {
    body = { ...PARSER_ERRORS[parser.type] };
  } else if (typeof parser.status === 'number' && parser.status >= 400 && parser.status < 500) {
    body = { code: 'BAD_REQUEST', message: 'bad request' };
  } else {
    body = { code: 'INTERNAL', message: 'internal error' };
    req.log?.error({ err: error }, 'unhandled error');
  }
  if (res.headersSent) {
    res.end();
    return;
  }
  res.status(httpStatusOf(body.code)).json({ error: body });
};
