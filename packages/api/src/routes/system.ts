import { StoreUnavailableError } from '@gyoza/domain';
import type { RouteSpec } from '../route';

/** How long readiness waits for the store before answering 503. */
const READY_STORE_TIMEOUT_MS = 2000;

export const healthRoute: RouteSpec = {
  method: 'get',
  path: '/health',
  tag: 'system',
  summary: 'Liveness (no API key needed): the process serves HTTP; says nothing of the store',
  open: true,
  success: { status: 200, description: 'Alive', schema: 'Health' },
  handler(_req, res) {
    res.json({ status: 'ok' });
  },
};

/**
 * Readiness: the store answers a read within 2 s, else 503 STORE_UNAVAILABLE. For a load
 * balancer or a Nomad/Consul check deciding where requests go; `/health` stays liveness.
 */
export const readyRoute: RouteSpec = {
  method: 'get',
  path: '/ready',
  tag: 'system',
  summary: 'Readiness (no API key needed): 200 when the store answers within 2 s, else 503 STORE_UNAVAILABLE',
  open: true,
  success: { status: 200, description: 'Ready to serve', schema: 'Ready' },
  async handler(_req, res, { store }) {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new StoreUnavailableError(`the ${store.kind} store did not answer within 2 s`)),
        READY_STORE_TIMEOUT_MS,
      );
    });
    try {
      // A read by id of no run: one index lookup whatever the history, on any adapter.
      await Promise.race([store.runs.getRun('run_ready'), late]);
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error;
      throw new StoreUnavailableError(`the ${store.kind} store failed a read: ${(error as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
    res.json({ status: 'ready', store: store.kind });
  },
};

export const metricsRoute: RouteSpec = {
  method: 'get',
  path: '/metrics',
  tag: 'system',
  summary: 'Prometheus metrics: runs by state, active workers, claims, request latency, webhook deliveries',
  success: { status: 200, description: 'Prometheus text format', schema: 'Text', contentType: 'text/plain' },
  async handler(_req, res, { metrics }) {
    res.type(metrics.registry.contentType).send(await metrics.render());
  },
};
