import type { LeaseStore } from '@gyoza/store';
import type { MongoStoreLogger } from './logger';

/** A held lease being renewed; `stop` ends the renewals (the holder then releases it). */
export interface KeptLease {
  /** Resolves once no renewal runs or will run: a release after it is not undone by one. */
  stop(): Promise<void>;
}

/**
 * Renews a lease `holder` holds every third of its TTL until stopped, one renewal at a time:
 * the lease stays held however long the work under it takes, and a holder that dies gives it
 * up within one TTL. A renewal that fails or finds the lease taken is logged (the work goes
 * on; it cannot be undone from here).
 */
export function keepLease(
  leases: LeaseStore,
  lease: { name: string; holder: string; ttlMs: number },
  logger: MongoStoreLogger,
): KeptLease {
  let renewals: Promise<void> = Promise.resolve();
  const renew = async () => {
    try {
      if (!(await leases.acquireLease(lease.name, lease.holder, lease.ttlMs, new Date()))) {
        logger.warn({ lease: lease.name }, 'a kept lease was taken by another holder');
      }
    } catch (error) {
      logger.warn({ lease: lease.name, err: error }, 'renewing a kept lease failed');
    }
  };
  const timer = setInterval(() => {
    renewals = renewals.then(renew);
  }, lease.ttlMs / 3);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await renewals;
    },
  };
}
