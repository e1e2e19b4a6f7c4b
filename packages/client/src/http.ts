import type { ResolvedConfig } from './config';
import { type ApiErrorDetail, GyozaAnswerError, GyozaApiError, GyozaConnectionError } from './errors';

export type QueryValue = string | number | boolean | undefined | null | ReadonlyArray<string | number>;

export interface RequestOptions {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, QueryValue>;
  body?: unknown;
  headers?: Record<string, string>;
  /** Overrides the client's timeout for this call. */
  timeoutMs?: number;
  /** Whether a failure may be retried (idempotent call or keyed run creation). */
  retryable?: boolean;
  signal?: AbortSignal;
  /** `text` for non-JSON answers such as Prometheus metrics. */
  responseType?: 'json' | 'text';
  /**
   * The answer when a retried try is answered 404 NOT_FOUND after an earlier try that may
   * have been carried out (its answer lost, or a 500/502/504): for a DELETE, "not found" then
   * means that try did the work. After a refused connection, a 429 or a 503 it is thrown.
   * @defaultValue none (the 404 is thrown)
   */
  retriedNotFound?: unknown;
}

const MAX_BACKOFF_MS = 5_000;

export function buildUrl(baseUrl: string, path: string, query?: Record<string, QueryValue>): string {
  const url = new URL(baseUrl + path);
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) for (const v of value) url.searchParams.append(key, String(v));
    else url.searchParams.set(key, String(value));
  }
  return url.toString();
}

/** Whether a failed try is worth repeating: the server never saw it, or said "later". */
/** Error codes of a connection that never reached the server: the request was not carried out. */
const NEVER_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * Whether a failed try may still have been carried out by the server: its answer was lost
 * (a reset or a timeout after sending) or it failed on the way back (500, 502, 504). Not a
 * refused connection, a 429 or a 503 (turned away before acting).
 */
function mayHaveBeenCarriedOut(error: unknown): boolean {
  if (error instanceof GyozaApiError) return error.status >= 500 && error.status !== 503;
  if (!(error instanceof GyozaConnectionError)) return false;
  const code = ((error.cause as { cause?: { code?: string } })?.cause?.code ?? '') as string;
  return !NEVER_SENT.has(code);
}

export function isTransient(error: unknown): boolean {
  if (error instanceof GyozaConnectionError) return true;
  return error instanceof GyozaApiError && (error.status >= 500 || error.status === 429);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Turns a non-2xx answer into a typed error, whatever its body looks like. */
export async function errorFromResponse(res: Response): Promise<GyozaApiError> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string; details?: ApiErrorDetail[] } };
    if (body?.error && typeof body.error.code === 'string') {
      return new GyozaApiError(
        res.status,
        body.error.code,
        body.error.message ?? `HTTP ${res.status}`,
        Array.isArray(body.error.details) ? body.error.details : [],
      );
    }
  } catch {
    // Not JSON (a proxy's HTML page, say): keep the status and the start of the text.
  }
  return new GyozaApiError(
    res.status,
    `HTTP_${res.status}`,
    text.slice(0, 200) || res.statusText || `HTTP ${res.status}`,
  );
}

function isNotFound(error: unknown): boolean {
  return error instanceof GyozaApiError && error.status === 404 && error.code === 'NOT_FOUND';
}

/**
 * A success answer's body: JSON, an object or a list, as every JSON route answers. Anything
 * else (a page, an empty body) is not the gyoza API speaking: a typed error naming the URL.
 */
function parseAnswer(text: string, contentType: string | null, path: string, url: string): unknown {
  if (text.trim() === '') throw new GyozaAnswerError(path, 'an empty body where JSON was expected', url);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new GyozaAnswerError(path, `not JSON (${contentType ?? 'no content-type'})`, url);
  }
  if (typeof value !== 'object' || value === null) {
    throw new GyozaAnswerError(path, 'JSON that is neither an object nor a list', url);
  }
  return value;
}

export class HttpTransport {
  constructor(readonly config: ResolvedConfig) {}

  headers(extra?: Record<string, string>): Record<string, string> {
    const headers: Record<string, string> = { accept: 'application/json', ...extra };
    if (this.config.apiKey) headers['x-api-key'] = this.config.apiKey;
    return headers;
  }

  /**
   * Opens a request and returns the response once its headers arrived (2xx only). The
   * timeout covers only the wait for headers, so a long stream can stay open.
   */
  async open(url: string, init: RequestInit, timeoutMs: number, signal?: AbortSignal): Promise<Response> {
    if (signal?.aborted) throw signal.reason;
    const controller = new AbortController();
    const combined = signal ? AbortSignal.any([controller.signal, signal]) : controller.signal;
    const timer = setTimeout(() => controller.abort(new DOMException('timed out', 'TimeoutError')), timeoutMs);
    try {
      let res: Response;
      try {
        res = await fetch(url, { ...init, signal: combined });
      } catch (error) {
        // The caller's own abort is not a connection problem: hand back its reason.
        if (signal?.aborted) throw signal.reason;
        throw new GyozaConnectionError(url, controller.signal.reason ?? error);
      }
      if (!res.ok) throw await errorFromResponse(res);
      return res;
    } finally {
      clearTimeout(timer);
    }
  }

  async request<T>(options: RequestOptions): Promise<T> {
    const url = buildUrl(this.config.baseUrl, options.path, options.query);
    const timeoutMs = options.timeoutMs ?? this.config.timeoutMs;
    const tries = options.retryable ? this.config.retries + 1 : 1;
    const headers = this.headers(options.headers);
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const init: RequestInit = { method: options.method, headers };
    if (options.body !== undefined) init.body = JSON.stringify(options.body);

    // Whether an earlier try may have been carried out although its answer was lost.
    let mayHaveActed = false;
    for (let attempt = 1; ; attempt++) {
      try {
        // The timeout covers reading the body as well, so a stalled answer cannot hang us.
        const timeout = AbortSignal.timeout(timeoutMs);
        const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
        let res: Response;
        let text: string;
        try {
          res = await fetch(url, { ...init, signal });
          if (!res.ok) throw await errorFromResponse(res);
          text = await res.text();
        } catch (error) {
          if (error instanceof GyozaApiError) throw error;
          if (options.signal?.aborted) throw options.signal.reason;
          throw new GyozaConnectionError(url, error);
        }
        if (options.responseType === 'text') return text as T;
        return parseAnswer(text, res.headers.get('content-type'), options.path, url) as T;
      } catch (error) {
        if (mayHaveActed && options.retriedNotFound !== undefined && isNotFound(error)) {
          return options.retriedNotFound as T;
        }
        mayHaveActed ||= mayHaveBeenCarriedOut(error);
        if (attempt >= tries || !isTransient(error) || options.signal?.aborted) throw error;
        await sleep(this.backoff(attempt), options.signal);
      }
    }
  }

  /** Exponential backoff with jitter, so clients that failed together do not return together. */
  backoff(attempt: number): number {
    const base = Math.min(MAX_BACKOFF_MS, this.config.retryDelayMs * 2 ** (attempt - 1));
    return Math.round(base / 2 + Math.random() * (base / 2));
  }
}
