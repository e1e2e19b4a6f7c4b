import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ERROR_CODE_LIST, ERROR_CODES, type ErrorCode } from '@gyoza/domain';
import express from 'express';
import { errorMiddleware, notFoundRoute } from './error-middleware';
import { HttpError } from './http-errors';

// A real Express app on a loopback port with only the error mapping: a route throws an
// error with the code it is asked for, and the answer must carry the status of the list.
let server: Server;
let base: string;

beforeAll(async () => {
  const app = express();
  app.use(express.json({ limit: 64 }));
  app.get('/throw/:code', (req) => {
    throw new HttpError(req.params.code as ErrorCode, `thrown ${req.params.code}`);
  });
  app.post('/echo', (req, res) => {
    res.json(req.body);
  });
  app.get('/crash', () => {
    throw new TypeError('a bug');
  });
  app.use(notFoundRoute);
  app.use(errorMiddleware);
  server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

it.each(ERROR_CODE_LIST)('answers %s with the status declared beside it', async (code) => {
  const res = await fetch(`${base}/throw/${code}`);
  expect(res.status).toBe(ERROR_CODES[code]);
  expect(await res.json()).toEqual({ error: { code, message: `thrown ${code}` } });
});

it('maps body-parser refusals and unknown routes to listed codes', async () => {
  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(`${base}/echo`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const cases: [Promise<Response>, ErrorCode][] = [
    [post('{not json'), 'BAD_REQUEST'],
    [post(JSON.stringify({ text: 'x'.repeat(200) })), 'PAYLOAD_TOO_LARGE'],
    [post('{}', { 'content-type': 'application/json; charset=latin-7' }), 'UNSUPPORTED_MEDIA_TYPE'],
    [fetch(`${base}/nowhere`), 'NOT_FOUND'],
    [fetch(`${base}/crash`), 'INTERNAL'],
  ];
  for (const [answer, code] of cases) {
    const res = await answer;
    expect([res.status, ((await res.json()) as { error: { code: string } }).error.code]).toEqual([
      ERROR_CODES[code],
      code,
    ]);
  }
});
