import { DELIVERY_STATUSES, type DeliveryStatus, type OutboxEntry, publicDelivery } from '@gyoza/store';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, Max, Min } from 'class-validator';

/** GET /deliveries: by status (one, a comma list or repeated), newest change first. */
export class DeliveriesQuery {
  @IsOptional() @IsIn(DELIVERY_STATUSES, { each: true }) status?: DeliveryStatus[];
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000) limit?: number;
}

/** A delivery on the wire: never its secret nor its body. */
export function deliveryJson(entry: OutboxEntry): Record<string, unknown> {
  const d = publicDelivery(entry);
  return {
    ...d,
    next_attempt_at: d.next_attempt_at.toISOString(),
    created_at: d.created_at.toISOString(),
    updated_at: d.updated_at.toISOString(),
    last_attempt_at: d.last_attempt_at?.toISOString(),
    delivered_at: d.delivered_at?.toISOString(),
  };
}

const dateTime = { type: 'string', format: 'date-time' };
const delivery = {
  type: 'object',
  required: [
    'id',
    'run_id',
    'event_index',
    'event_type',
    'url',
    'status',
    'attempts',
    'next_attempt_at',
    'created_at',
    'updated_at',
  ],
  properties: {
    id: { type: 'string', description: 'Also the webhook-id header, the same on every attempt' },
    run_id: { type: 'string' },
    event_index: { type: 'integer', minimum: 1 },
    event_type: { type: 'string' },
    url: { type: 'string', format: 'uri' },
    status: { type: 'string', enum: [...DELIVERY_STATUSES] },
    attempts: { type: 'integer', minimum: 0 },
    next_attempt_at: dateTime,
    last_attempt_at: dateTime,
    last_status_code: { type: 'integer' },
    last_error: { type: 'string', description: 'Short; never a whole response body' },
    delivered_at: dateTime,
    created_at: dateTime,
    updated_at: dateTime,
  },
  additionalProperties: false,
};

/** Response schemas of the delivery routes, merged into the OpenAPI document's. */
export const DELIVERY_SCHEMAS = {
  Delivery: delivery,
  DeliveryList: { type: 'array', items: { $ref: '#/components/schemas/Delivery' } },
};
