import {
  ERROR_CODE_LIST,
  ERROR_CODES,
  type ErrorCode,
  type ErrorStatus,
  GyozaError,
  httpStatusOf,
  NotFoundError,
  ValidationError,
} from './errors';

// Compile-time checks (`pnpm typecheck` runs tsc over the tests): every code has a status…
ERROR_CODES satisfies Record<ErrorCode, ErrorStatus>;

// …and an error cannot carry a code that is not in the list.
export class UnlistedCodeError extends GyozaError {
  // @ts-expect-error 'NOT_A_CODE' is not an ErrorCode
  readonly code = 'NOT_A_CODE';
}

describe('error codes', () => {
  it('gives every code an HTTP error status', () => {
    expect(ERROR_CODE_LIST.length).toBeGreaterThan(0);
    for (const code of ERROR_CODE_LIST) {
      const status = httpStatusOf(code);
      expect(Number.isInteger(status) && status >= 400 && status <= 599).toBe(true);
    }
  });

  it('reserves the codes the HTTP edge answers with', () => {
    expect(ERROR_CODES).toMatchObject({
      METHOD_NOT_ALLOWED: 405,
      PAYLOAD_TOO_LARGE: 413,
      UNSUPPORTED_MEDIA_TYPE: 415,
      RATE_LIMITED: 429,
      STORE_UNAVAILABLE: 503,
    });
  });

  it('names the class and keeps the code and details of a domain error', () => {
    const error = ValidationError.field('image', 'must not be empty');
    expect(error).toBeInstanceOf(GyozaError);
    expect(error.name).toBe('ValidationError');
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.details).toEqual([{ field: 'image', message: 'must not be empty' }]);
    expect(httpStatusOf(new NotFoundError('run', 'run_x').code)).toBe(404);
  });
});
