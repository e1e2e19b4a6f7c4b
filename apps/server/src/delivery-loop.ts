import type { ApiMetrics } from '@gyoza/api';
import { DeliveryLoop } from '@gyoza/scheduler';
import type { Store } from '@gyoza/store';
import type { Logger } from 'pino';
import type { ServerConfig } from './settings';

/**
 * The webhook delivery loop of this server process, from the `GYOZA_WEBHOOK_*` settings, its
 * attempts counted in the process's `/metrics`. Every process of a cluster runs one; the
 * per-delivery leases keep them from sending an attempt twice.
 */
export function startDeliveryLoop(
  config: ServerConfig,
  store: Store,
  logger: Logger,
  metrics: ApiMetrics,
): DeliveryLoop {
  const loop = new DeliveryLoop({
    store,
    logger: logger.child({ component: 'webhooks' }),
    allowNetworks: config.webhookAllowNetworks ? config.webhookAllowNetworks.split(',') : [],
    timeoutMs: config.webhookTimeoutSeconds * 1000,
    retryBaseMs: config.webhookRetryBaseSeconds * 1000,
    maxAttempts: config.webhookMaxAttempts,
    maxAgeMs: config.webhookMaxAgeSeconds * 1000,
    observer: {
      delivered: (_entry, latencyMs) => {
        metrics.webhookAttempts.inc({ result: 'delivered' });
        metrics.webhookLatency.observe(latencyMs / 1000);
      },
      failed: () => metrics.webhookAttempts.inc({ result: 'failed' }),
      dead: () => metrics.webhookAttempts.inc({ result: 'dead' }),
    },
  });
  loop.start();
  return loop;
}
