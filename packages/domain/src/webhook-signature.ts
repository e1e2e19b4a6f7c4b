import { createHmac } from 'node:crypto';

/**
 * Webhook signatures after the Standard Webhooks convention (standardwebhooks.com): the
 * signature is `v1,` + base64(HMAC-SHA256(key, `${id}.${timestamp}.${body}`)), where `id`
 * is the `webhook-id` header and `timestamp` the `webhook-timestamp` header (Unix seconds).
 *
 * The key: a secret written `whsec_<base64>` is the base64-decoded bytes, as the convention
 * says; any other secret string is used as it is, its UTF-8 bytes being the key (what GitHub
 * and most hand-written receivers do with a plain shared secret).
 */
export const WEBHOOK_SECRET_PREFIX = 'whsec_';

/** Fewest key bytes a `whsec_` secret may carry (Standard Webhooks secrets are 24 to 64). */
export const MIN_WEBHOOK_KEY_BYTES = 16;

/** Standard base64, its `=` padding optional. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/;

/**
 * Why a secret cannot be a key, or undefined. A `whsec_` secret that is not base64 (or is too
 * short) would otherwise sign with the few bytes Node makes of it, even none, and no receiver
 * holding the same secret would verify it. Any other secret is its own UTF-8 bytes.
 */
export function webhookSecretProblem(secret: string): string | undefined {
  if (!secret.startsWith(WEBHOOK_SECRET_PREFIX)) return undefined;
  const encoded = secret.slice(WEBHOOK_SECRET_PREFIX.length);
  if (BASE64.test(encoded) && Buffer.from(encoded, 'base64').length >= MIN_WEBHOOK_KEY_BYTES) return undefined;
  return `must be ${WEBHOOK_SECRET_PREFIX} followed by the base64 of at least ${MIN_WEBHOOK_KEY_BYTES} bytes (Standard Webhooks secrets are 24 to 64), or a secret without that prefix`;
}

export function webhookKey(secret: string): Buffer {
  return secret.startsWith(WEBHOOK_SECRET_PREFIX)
    ? Buffer.from(secret.slice(WEBHOOK_SECRET_PREFIX.length), 'base64')
    : Buffer.from(secret, 'utf8');
}

/** The `webhook-signature` header value for one message. */
export function signWebhook(secret: string, id: string, timestamp: number, body: string): string {
  const digest = createHmac('sha256', webhookKey(secret)).update(`${id}.${timestamp}.${body}`).digest('base64');
  return `v1,${digest}`;
}
