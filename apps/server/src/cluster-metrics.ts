import type { Worker } from 'node:cluster';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client';

/**
 * GET /metrics in a cluster: each process counts only the requests, claims and webhooks it
 * served, so one process's own metrics would be a counter that resets at every scrape another
 * answers. The child serving the scrape asks the primary; the primary reads every listening
 * child's registry over IPC and sums them (prom-client's `AggregatorRegistry.aggregate`:
 * counters and histograms summed, gauges by each metric's `aggregator`).
 */
const ASK = 'gyoza:metrics?';
const ANSWER = 'gyoza:metrics';
const READ = 'gyoza:metrics-json?';
const OWN = 'gyoza:metrics-json';
/** A child that has not answered by then is left out of that scrape (busy, or dying). */
const CHILD_TIMEOUT_MS = 3000;
/** How long a scrape waits for the primary. */
const ASK_TIMEOUT_MS = 10_000;

type Metrics = MetricObjectWithValues<MetricValue<string>>[];
interface Message {
  type?: unknown;
  id?: unknown;
  text?: unknown;
  error?: unknown;
  metrics?: unknown;
}

/**
 * In a cluster child: answers the primary's reads of `registry`, and returns what asks the
 * primary for the whole cluster's metrics (one message listener, whatever the scrapes).
 */
export function clusterMetricsInChild(registry: Registry, send: (message: object) => void): () => Promise<string> {
  const waiting = new Map<number, { resolve: (text: string) => void; reject: (error: Error) => void }>();
  let asked = 0;
  process.on('message', (raw: unknown) => {
    const message = raw as Message | null;
    if (message?.type === READ) {
      registry.getMetricsAsJSON().then(
        (metrics) => send({ type: OWN, id: message.id, metrics }),
        (error: Error) => send({ type: OWN, id: message.id, error: error.message }),
      );
    } else if (message?.type === ANSWER && typeof message.id === 'number') {
      const waiter = waiting.get(message.id);
      waiting.delete(message.id);
      if (typeof message.text === 'string') waiter?.resolve(message.text);
      else waiter?.reject(new Error(`the cluster's metrics could not be gathered: ${String(message.error)}`));
    }
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = ++asked;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`the cluster's metrics did not come within ${ASK_TIMEOUT_MS / 1000} s`));
      }, ASK_TIMEOUT_MS);
      const done =
        <T>(settle: (value: T) => void) =>
        (value: T) => {
          clearTimeout(timer);
          settle(value);
        };
      waiting.set(id, { resolve: done(resolve), reject: done(reject) });
      send({ type: ASK, id });
    });
}

/** In the primary: the listening children, read and summed when one of them is scraped. */
export class ClusterMetrics {
  private readonly listening = new Set<Worker>();
  private readonly reads = new Map<number, (metrics: Metrics | undefined) => void>();
  private read = 0;

  /** Counts `child` from when it listens until it exits (a child still starting is not asked). */
  add(child: Worker): void {
    child.once('listening', () => this.listening.add(child));
    child.once('exit', () => this.listening.delete(child));
  }

  /** Handles a child's message if it is about metrics; false otherwise. */
  onMessage(child: Worker, raw: unknown): boolean {
    const message = raw as Message | null;
    if (message?.type === OWN && typeof message.id === 'number') {
      this.reads.get(message.id)?.(Array.isArray(message.metrics) ? (message.metrics as Metrics) : undefined);
      return true;
    }
    if (message?.type !== ASK) return false;
    const answer = (fields: object) => {
      if (child.isConnected()) child.send({ type: ANSWER, id: message.id, ...fields });
    };
    this.gather().then(
      (text) => answer({ text }),
      (error: Error) => answer({ error: error.message }),
    );
    return true;
  }

  private async gather(): Promise<string> {
    const answers = await Promise.all([...this.listening].map((child) => this.readFrom(child)));
    return AggregatorRegistry.aggregate(answers.filter((a): a is Metrics => a !== undefined)).metrics();
  }

  private readFrom(child: Worker): Promise<Metrics | undefined> {
    const id = ++this.read;
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(undefined), CHILD_TIMEOUT_MS);
      const finish = (metrics: Metrics | undefined) => {
        clearTimeout(timer);
        this.reads.delete(id);
        resolve(metrics);
      };
      this.reads.set(id, finish);
      if (child.isConnected()) child.send({ type: READ, id });
      else finish(undefined);
    });
  }
}
