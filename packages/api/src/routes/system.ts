import type { RouteSpec } from '../route';

export const healthRoute: RouteSpec = {
  method: 'get',
  path: '/health',
  tag: 'system',
  summary: 'Liveness (no API key needed)',
  open: true,
  success: { status: 200, description: 'Alive', schema: 'Health' },
  handler(_req, res) {
    res.json({ status: 'ok' });
  },
};

export const metricsRoute: RouteSpec = {
  method: 'get',
  path: '/metrics',
  tag: 'system',
  summary: 'Prometheus metrics: runs by state, active workers, claims, request latency, webhook deliveries',
  success: { status: 200, description: 'Prometheus text format', schema: 'Text', contentType: 'text/plain' },
  async handler(_req, res, { metrics }) {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  },
};
