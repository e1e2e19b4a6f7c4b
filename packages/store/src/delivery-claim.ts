import { randomUUID } from 'node:crypto';
import type { OutboxEntry } from './outbox';
import type { Store } from './ports';

/** A delivery this process holds the lease of, until it records the outcome or the lease ends. */
export interface ClaimedDelivery {
  entry: OutboxEntry;
  /** The lease's holder name: give it back with `releaseDelivery`. */
  holder: string;
}

export interface DeliveryClaimRequest {
  limit: number;
  /** Longer than one attempt can take (its timeout), so a live sender never loses its lease. */
  leaseMs: number;
  now: Date;
  /** Deliveries this process is already sending (never claimed twice by one process). */
  skip?: ReadonlySet<string>;
}

export const deliveryLeaseName = (id: string) => `delivery:${id}`;

/**
 * Claims due deliveries, each through its own lease in the store's LeaseStore (atomic on
 * every adapter), so several server processes send each attempt once. The delivery is read
 * again after the lease is won: another process may have finished this attempt between our
 * listing and our lease, and then its `attempts` or `status` differ from what we listed.
 */
export async function claimDeliveries(store: Store, request: DeliveryClaimRequest): Promise<ClaimedDelivery[]> {
  const due = await store.deliveries.listDue(request.now, request.limit + (request.skip?.size ?? 0));
  const claimed: ClaimedDelivery[] = [];
  for (const listed of due) {
    if (claimed.length >= request.limit) break;
    if (request.skip?.has(listed.id)) continue;
    const holder = randomUUID();
    if (!(await store.leases.acquireLease(deliveryLeaseName(listed.id), holder, request.leaseMs, request.now)))
      continue;
    const fresh = await store.deliveries.getDelivery(listed.id);
    const unchanged =
      fresh !== null &&
      fresh.status === listed.status &&
      fresh.attempts === listed.attempts &&
      fresh.next_attempt_at.getTime() <= request.now.getTime();
    if (!unchanged) {
      await store.leases.releaseLease(deliveryLeaseName(listed.id), holder);
      continue;
    }
    claimed.push({ entry: fresh, holder });
  }
  return claimed;
}

/** Gives the lease back once the outcome is recorded, so the next attempt need not wait for it to end. */
export async function releaseDelivery(store: Store, claim: ClaimedDelivery): Promise<void> {
  await store.leases.releaseLease(deliveryLeaseName(claim.entry.id), claim.holder);
}
