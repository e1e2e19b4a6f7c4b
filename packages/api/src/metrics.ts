import { RUN_STATES } from '@gyoza/domain';
import { DELIVERY_STATUSES, type Store } from '@gyoza/store';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * One registry per app, so several apps (tests, workers of a cluster) never share counters.
 * In a cluster, counters and histograms are summed over the processes and the store's
 * gauges (the same read in every process) taken once: see `render`.
 */
export class ApiMetrics {
  readonly registry = new Registry();
  /**
   * The whole cluster's metrics, in the text format, when this process is one of a cluster's
   * (the primary gathers them); else this process's own.
   */
  cluster?: () => Promise<string>;
  readonly claims: Counter<'result'>;
  readonly claimedRuns: Counter;
  readonly requestDuration: Histogram<'method' | 'route' | 'status'>;
  /** Webhook attempts made by this process, by result: delivered, failed (retried later), dead. */
  readonly webhookAttempts: Counter<'result'>;
  /** From the event's commit to the receiver's 2xx, retries included. */
  readonly webhookLatency: Histogram;

  constructor(store: Store) {
    const registers = [this.registry];
    new Gauge({
      name: 'gyoza_runs',
      help: 'Runs by state',
      labelNames: ['state'],
      aggregator: 'first',
      registers,
      async collect() {
        const counts = await store.runs.countRunsByState();
        for (const state of RUN_STATES) this.set({ state }, counts[state]);
      },
    });
    new Gauge({
      name: 'gyoza_workers_active',
      help: 'Workers in the pool (heartbeating)',
      aggregator: 'first',
      registers,
      async collect() {
        this.set((await store.workers.listWorkers('active')).length);
      },
    });
    this.claims = new Counter({
      name: 'gyoza_claims_total',
      help: 'Claim requests by result (claimed: at least one run)',
      labelNames: ['result'],
      registers,
    });
    new Gauge({
      name: 'gyoza_webhook_deliveries',
      help: 'Webhook deliveries by status (pending + failing: the queue depth)',
      labelNames: ['status'],
      aggregator: 'first',
      registers,
      async collect() {
        const counts = await store.deliveries.countDeliveries();
        for (const status of DELIVERY_STATUSES) this.set({ status }, counts[status]);
      },
    });
    this.webhookAttempts = new Counter({
      name: 'gyoza_webhook_attempts_total',
      help: 'Webhook attempts by result (delivered, failed: retried later, dead)',
      labelNames: ['result'],
      registers,
    });
    this.webhookLatency = new Histogram({
      name: 'gyoza_webhook_latency_seconds',
      help: 'From the event to its delivery (retries included)',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 120, 600, 3600, 86_400],
      registers,
    });
    this.claimedRuns = new Counter({ name: 'gyoza_claimed_runs_total', help: 'Runs handed to workers', registers });
    this.requestDuration = new Histogram({
      name: 'gyoza_http_request_duration_seconds',
      help: 'HTTP request latency by route',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
  }

  /** What GET /metrics answers: the cluster's metrics, or this process's. */
  render(): Promise<string> {
    return this.cluster ? this.cluster() : this.registry.metrics();
  }

  /** One answered request's latency. */
  observeRequest(method: string, route: string, status: number, seconds: number): void {
    this.requestDuration.observe({ method, route, status: String(status) }, seconds);
  }
}
