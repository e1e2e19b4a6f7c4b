import { NotFoundError, RUN_ID_PATTERN } from '@gyoza/domain';
import { parseDeliveryId } from '@gyoza/store';
import { DeliveriesQuery, deliveryJson } from '../dto/delivery.dto';
import type { RouteSpec } from '../route';
import { parseDto } from '../validation';

const DELIVERY_ID_PATTERN = /^run_[A-Za-z0-9]{1,64}-[1-9][0-9]{0,9}$/;

/** The webhook outbox: what was sent, what is failing or dead, and sending one again. */
export const deliveryRoutes: RouteSpec[] = [
  {
    method: 'get',
    path: '/runs/:id/deliveries',
    tag: 'deliveries',
    summary: "A run's webhook deliveries in event order, with their status, attempts and last error",
    params: { id: RUN_ID_PATTERN },
    success: { status: 200, description: 'Deliveries', schema: 'DeliveryList' },
    async handler(req, res, ctx) {
      const id = req.params.id as string;
      if (!(await ctx.store.runs.getRun(id))) throw new NotFoundError('run', id);
      res.json((await ctx.store.deliveries.listDeliveries({ run_id: id, limit: 1000 })).map(deliveryJson));
    },
  },
  {
    method: 'get',
    path: '/deliveries',
    tag: 'deliveries',
    summary: 'Webhook deliveries across runs by status (?status=failing,dead), most recently changed first',
    query: DeliveriesQuery,
    success: { status: 200, description: 'Deliveries', schema: 'DeliveryList' },
    async handler(req, res, ctx) {
      // One status, a comma list, or the parameter repeated.
      const raw = req.query.status;
      const status =
        raw === undefined ? undefined : (Array.isArray(raw) ? raw : [raw]).flatMap((s) => String(s).split(','));
      const query = parseDto(DeliveriesQuery, { ...req.query, status }, 'query');
      res.json((await ctx.store.deliveries.listDeliveries(query)).map(deliveryJson));
    },
  },
  {
    method: 'post',
    path: '/deliveries/:id/redeliver',
    tag: 'deliveries',
    summary: 'Sends a delivery again (dead, failing or delivered), from attempt 0, with the same webhook-id',
    params: { id: DELIVERY_ID_PATTERN },
    success: { status: 200, description: 'The delivery, queued', schema: 'Delivery' },
    async handler(req, res, ctx) {
      const id = req.params.id as string;
      if (!parseDeliveryId(id)) throw new NotFoundError('delivery', id);
      res.json(deliveryJson(await ctx.store.deliveries.redeliver(id, ctx.clock())));
    },
  },
];
