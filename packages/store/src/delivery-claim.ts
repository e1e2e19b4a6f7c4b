import { randomUUID } from 'node:crypto';
import type { DeliveryLeaseRequest, OutboxEntry } from './outbox';
import type { Store } from './ports';

/** A delivery this process holds the lease of, until it records the outcome or the lease ends. */
export interface ClaimedDelivery {
  entry: OutboxEntry;
  /** The lease's holder name: give it back with `releaseDelivery`. */
  holder: string;
}

/** What `claimDeliveries` takes: `claimDue`'s request, its holder named for you unless given. */
export interface DeliveryClaimRequest extends Omit<DeliveryLeaseRequest, 'holder'> {
  /** @defaultValue a new random name */
  holder?: string;
}

/**
 * Claims due deliveries through the adapter's `claimDue`: the lease lives on the delivery
 * (or its per-attempt claim document), not in the LeaseStore, and ends with `recordAttempt`,
 * so nothing is left behind per delivery.
 */
export async function claimDeliveries(store: Store, request: DeliveryClaimRequest): Promise<ClaimedDelivery[]> {
  const holder = request.holder ?? randomUUID();
  const entries = await store.deliveries.claimDue({ ...request, holder });
  return entries.map((entry) => ({ entry, holder }));
}

/** Gives the lease back without recording an attempt (`recordAttempt` already ends it). */
export async function releaseDelivery(store: Store, claim: ClaimedDelivery): Promise<void> {
  await store.deliveries.releaseClaim(claim.entry.id, claim.holder);
}
