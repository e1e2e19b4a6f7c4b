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
