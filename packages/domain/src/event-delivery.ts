import { ValidationError } from './errors';
import { RUN_EVENT_TYPES } from './event-types';
import { webhookSecretProblem } from './webhook-signature';

export interface EventDelivery {
  webhook_url?: string;
  /** Event types to deliver; undefined = all. */
  event_types?: string[];
  /** Shared secret for the HMAC-SHA256 signature header. */
  secret?: string;
}

export function normalizeEventDelivery(
  input: EventDelivery | undefined | null,
  field = 'event_delivery',
): EventDelivery {
  if (input === undefined || input === null) return {};
  if (typeof input !== 'object' || Array.isArray(input)) throw ValidationError.field(field, 'must be an object');
  const out: EventDelivery = {};
  if (input.webhook_url !== undefined && input.webhook_url !== null) {
    let url: URL | undefined;
    try {
      url = new URL(input.webhook_url);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw ValidationError.field(`${field}.webhook_url`, 'must be an http(s) URL');
    }
    out.webhook_url = input.webhook_url;
  }
  if (input.event_types !== undefined && input.event_types !== null) {
    if (!Array.isArray(input.event_types) || input.event_types.some((t) => typeof t !== 'string' || !t)) {
      throw ValidationError.field(`${field}.event_types`, 'must be an array of event type names');
    }
    // A name no event carries (a typo, lower case) would silently deliver nothing.
    const known: readonly string[] = RUN_EVENT_TYPES;
    const unknown = input.event_types.find((t) => !known.includes(t));
    if (unknown !== undefined) {
      throw ValidationError.field(
        `${field}.event_types`,
        `has unknown event type ${JSON.stringify(unknown)}; known: ${known.join(', ')}`,
      );
    }
    out.event_types = [...input.event_types];
  }
  if (input.secret !== undefined && input.secret !== null) {
    if (typeof input.secret !== 'string' || !input.secret) {
      throw ValidationError.field(`${field}.secret`, 'must be a non-empty string');
    }
    const problem = webhookSecretProblem(input.secret);
    if (problem) throw ValidationError.field(`${field}.secret`, problem);
    out.secret = input.secret;
  }
  return out;
}
