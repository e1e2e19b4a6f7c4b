import { timingSafeEqual } from 'node:crypto';
import { signWebhook } from '@gyoza/domain';

/** What a gyoza webhook's body holds (`data.event` is the run's event). */
export interface WebhookMessage {
  type: string;
  timestamp: string;
  data: {
    run_id: string;
    definition_id?: string;
    definition_version?: string;
    state: string;
    attempt: number;
    progress: number;
    event: { index: number; attempt: number; type: string; msg?: string; payload?: unknown; created_at: string };
    outputs?: Record<string, unknown>;
    error_message?: string;
  };
}

export class WebhookVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookVerificationError';
  }
}

export interface VerifyWebhookOptions {
  /**
   * How far `webhook-timestamp` may be from now (replay protection).
   * @defaultValue 300
   */
  toleranceSeconds?: number;
  /** @defaultValue the current time */
  now?: Date;
}

type Headers = Record<string, string | string[] | undefined> | { get(name: string): string | null };

function header(headers: Headers, name: string): string | undefined {
  if (typeof (headers as { get?: unknown }).get === 'function') {
    return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  }
  const record = headers as Record<string, string | string[] | undefined>;
  const value = record[name] ?? Object.entries(record).find(([key]) => key.toLowerCase() === name)?.[1];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Checks a gyoza webhook (Standard Webhooks headers `webhook-id`, `webhook-timestamp`,
 * `webhook-signature`) against the secret of the run's `event_delivery`, and returns the
 * parsed body. `body` must be the raw bytes as received, not re-serialized JSON. Throws
 * WebhookVerificationError when a header is missing, the timestamp is outside the tolerance
 * or no signature matches. Receivers should de-duplicate on `webhook-id`: delivery is at least once.
 */
export function verifyWebhook(
  headers: Headers,
  body: string | Buffer,
  secret: string,
  options: VerifyWebhookOptions = {},
): WebhookMessage {
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !timestamp || !signatures) throw new WebhookVerificationError('missing webhook-* headers');
  const seconds = Number(timestamp);
  const now = (options.now ?? new Date()).getTime() / 1000;
  if (!/^\d+$/.test(timestamp) || Math.abs(now - seconds) > (options.toleranceSeconds ?? 300)) {
    throw new WebhookVerificationError('webhook-timestamp is too old or too new');
  }
  const text = typeof body === 'string' ? body : body.toString('utf8');
  const expected = Buffer.from(signWebhook(secret, id, seconds, text));
  // The header may list several space-separated signatures (during a secret rotation).
  const matches = signatures.split(' ').some((candidate) => {
    const given = Buffer.from(candidate);
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!matches) throw new WebhookVerificationError('no webhook-signature matches the secret');
  return JSON.parse(text) as WebhookMessage;
}

/** A webhook delivery as the API shows it (never its secret). */
export interface DeliveryJson {
  /** Also the `webhook-id` header. */
  id: string;
  run_id: string;
  event_index: number;
  event_type: string;
  url: string;
  status: 'pending' | 'failing' | 'delivered' | 'dead';
  attempts: number;
  next_attempt_at: string;
  last_attempt_at?: string;
  last_status_code?: number;
  last_error?: string;
  delivered_at?: string;
  created_at: string;
  updated_at: string;
}
