import { assign, ConcurrentModificationError, type CreateRunInput, cancel, NotFoundError } from '@gyoza/domain';
import { claimDeliveries, publicDelivery, receiverOf, releaseDelivery, type Store } from '@gyoza/store';
import { heartbeat, newRun } from './fixtures';

const T0 = Date.UTC(2026, 0, 1);
const at = (seconds: number) => new Date(T0 + seconds * 1000);
const HOOK = 'https://hooks.example.com/gyoza';

/**
 * The webhook outbox part of the store contract. Called inside `describeStoreContract`, with
 * the suite's current store and a way to open more connections to the same database.
 */
export function describeOutboxContract(current: () => Store, connect: () => Promise<Store>): void {
  describe('outbox', () => {
    async function insert(seconds: number, input: CreateRunInput = {}) {
      return (await current().runs.createRun(newRun({ image: 'busybox', ...input }, at(seconds)), at(seconds))).run;
    }
    const withHook = (event_types?: string[]) => ({
      event_delivery: {
        webhook_url: HOOK,
        secret: 'whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0',
        ...(event_types ? { event_types } : {}),
      },
    });

    it('writes a delivery with every event the run wants, and none for a run without a webhook', async () => {
      const store = current();
      const run = await insert(0, withHook());
      await insert(0); // no event_delivery
      await store.workers.heartbeat(heartbeat('w1'), at(1));
      await store.runs.saveTransition(assign(run, { worker_id: 'w1', gpu_ids: [] }, at(2)), at(2));
      await store.runs.appendEvents(run.id, [{ attempt: 1, type: 'LOG', msg: 'hello' }], at(3));
      const deliveries = await store.deliveries.listDeliveries({ run_id: run.id });
      expect(deliveries.map((d) => [d.id, d.event_index, d.event_type, d.status, d.attempts])).toEqual([
        [`${run.id}-1`, 1, 'CREATED', 'pending', 0],
        [`${run.id}-2`, 2, 'ASSIGNED', 'pending', 0],
        [`${run.id}-3`, 3, 'LOG', 'pending', 0],
      ]);
      expect(await store.deliveries.countDeliveries()).toEqual({ pending: 3, failing: 0, delivered: 0, dead: 0 });
      const [created] = deliveries;
      expect(created.url).toBe(HOOK);
      expect(created.secret).toBe('whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0');
      expect(created.next_attempt_at).toEqual(at(0));
      expect(JSON.parse(created.body)).toMatchObject({
        type: 'run.created',
        timestamp: at(0).toISOString(),
        data: { run_id: run.id, state: 'PENDING', attempt: 1, event: { index: 1, type: 'CREATED' } },
      });
      expect(publicDelivery(created)).not.toHaveProperty('secret');
      expect(publicDelivery(created)).not.toHaveProperty('body');
    });

    it('writes deliveries only for the event types asked for', async () => {
      const store = current();
      const run = await insert(0, withHook(['CANCELLED']));
      await store.runs.appendEvents(run.id, [{ attempt: 1, type: 'LOG', msg: 'x' }], at(1));
      await store.runs.saveTransition(cancel(run, at(2)), at(2));
      const deliveries = await store.deliveries.listDeliveries({ run_id: run.id });
      expect(deliveries.map((d) => d.event_type)).toEqual(['CANCELLED']);
      expect(JSON.parse(deliveries[0].body).data.state).toBe('CANCELLED');
    });

    it('writes no delivery for a refused transition', async () => {
      const store = current();
      const run = await insert(0, withHook());
      await store.runs.saveTransition(cancel(run, at(1)), at(1));
      const stale = store.runs.saveTransition(cancel(run, at(2)), at(2));
      await expect(stale).rejects.toBeInstanceOf(ConcurrentModificationError);
      expect((await store.deliveries.listDeliveries({ run_id: run.id })).map((d) => d.event_type)).toEqual([
        'CREATED',
        'CANCELLED',
      ]);
    });

    it("lists only each run's earliest open delivery as due, and only once it is due", async () => {
      const store = current();
      const a = await insert(0, withHook());
      await store.runs.appendEvents(a.id, [{ attempt: 1, type: 'LOG', msg: '1' }], at(1));
      const b = await insert(2, withHook());
      const ids = async (seconds: number) => (await store.deliveries.listDue(at(seconds), 10)).map((d) => d.id);
      expect(await ids(1)).toEqual([`${a.id}-1`]);
      expect(await ids(5)).toEqual([`${a.id}-1`, `${b.id}-1`]);
      // A failing first delivery holds back the run's later one until it is due again.
      await store.deliveries.recordAttempt(
        `${a.id}-1`,
        {
          status: 'failing',
          attempts: 1,
          attempted_at: at(5),
          next_attempt_at: at(60),
          status_code: 500,
          error: 'HTTP 500',
        },
        at(5),
      );
      expect(await ids(6)).toEqual([`${b.id}-1`]);
      expect(await ids(61)).toEqual([`${b.id}-1`, `${a.id}-1`]); // soonest due first
      await store.deliveries.recordAttempt(`${a.id}-1`, { status: 'dead', attempts: 2, attempted_at: at(61) }, at(61));
      expect(await ids(62)).toEqual([`${a.id}-2`, `${b.id}-1`]);
      await store.deliveries.recordAttempt(
        `${a.id}-2`,
        { status: 'delivered', attempts: 1, attempted_at: at(62), status_code: 204 },
        at(62),
      );
      expect(await ids(63)).toEqual([`${b.id}-1`]);
      const dead = await store.deliveries.getDelivery(`${a.id}-1`);
      expect(dead).toMatchObject({ status: 'dead', attempts: 2, last_attempt_at: at(61) });
      expect(await store.deliveries.getDelivery(`${a.id}-2`)).toMatchObject({
        status: 'delivered',
        last_status_code: 204,
        delivered_at: at(62),
      });
      expect((await store.deliveries.listDeliveries({ status: 'dead' })).map((d) => d.id)).toEqual([`${a.id}-1`]);
    });

    /** A run with a webhook and 30 LOG events behind its first delivery, which failed and is retried at `retryAt`. */
    async function runWithFailingHead(retryAt: number) {
      const run = await insert(0, withHook());
      const logs = Array.from({ length: 30 }, (_, i) => ({ attempt: 1, type: 'LOG' as const, msg: `line ${i}` }));
      await current().runs.appendEvents(run.id, logs, at(1));
      await current().deliveries.recordAttempt(
        `${run.id}-1`,
        { status: 'failing', attempts: 1, attempted_at: at(2), next_attempt_at: at(retryAt), error: 'HTTP 500' },
        at(2),
      );
      return run;
    }

    /** Exactly `id` is due at `now` (two asked for), and claimed. */
    async function expectOnlyDue(id: string, now: Date) {
      expect((await current().deliveries.listDue(now, 2)).map((d) => d.id)).toEqual([id]);
      const claimed = await claimDeliveries(current(), { limit: 2, leaseMs: 10_000, now });
      expect(claimed.map((c) => c.entry.id)).toEqual([id]);
    }

    it("lists another run's due delivery past many events waiting behind a run's failing head", async () => {
      await runWithFailingHead(3600);
      const other = await insert(5, withHook(['CREATED']));
      await expectOnlyDue(`${other.id}-1`, at(10));
    });

    it("lists a run's head due again for a retry, when its later events came due sooner", async () => {
      const run = await runWithFailingHead(3);
      await expectOnlyDue(`${run.id}-1`, at(10));
    });

    it('lists a healthy run behind many runs whose heads wait for a retry, and soonest head first', async () => {
      // Ten runs to a receiver that is down: each head retried in an hour, 30 events behind it.
      for (let i = 0; i < 10; i++) await runWithFailingHead(3600);
      const healthy = await insert(5, withHook(['CREATED']));
      await expectOnlyDue(`${healthy.id}-1`, at(10));
      await current().deliveries.recordAttempt(
        `${healthy.id}-1`,
        { status: 'delivered', attempts: 1, attempted_at: at(11), status_code: 204 },
        at(11),
      );
      // Heads, soonest first: one due at 50 s (with its events due since 1 s), one at 40 s.
      const later = await runWithFailingHead(50);
      const sooner = await insert(40, withHook(['CREATED']));
      expect((await current().deliveries.listDue(at(60), 1)).map((d) => d.id)).toEqual([`${sooner.id}-1`]);
      expect((await current().deliveries.listDue(at(60), 2)).map((d) => d.id)).toEqual([
        `${sooner.id}-1`,
        `${later.id}-1`,
      ]);
    });

    it('redelivers a dead delivery from attempt 0, and refuses an unknown one', async () => {
      const store = current();
      const run = await insert(0, withHook(['CREATED']));
      const id = `${run.id}-1`;
      await store.deliveries.recordAttempt(
        id,
        { status: 'dead', attempts: 3, attempted_at: at(10), status_code: 410, error: 'HTTP 410' },
        at(10),
      );
      const again = await store.deliveries.redeliver(id, at(20));
      expect(again).toMatchObject({ id, status: 'pending', attempts: 0, next_attempt_at: at(20) });
      expect((await store.deliveries.listDue(at(20), 10)).map((d) => d.id)).toEqual([id]);
      await expect(store.deliveries.redeliver(`${run.id}-99`, at(20))).rejects.toBeInstanceOf(NotFoundError);
      await expect(store.deliveries.redeliver('nonsense', at(20))).rejects.toBeInstanceOf(NotFoundError);
      expect(await store.deliveries.getDelivery('nonsense')).toBeNull();
    });

    it('drops the outcome of an attempt in flight when its delivery was redelivered meanwhile', async () => {
      const store = current();
      const run = await insert(0, withHook(['CREATED']));
      const id = `${run.id}-1`;
      const [inFlight] = await claimDeliveries(store, { limit: 10, leaseMs: 60_000, now: at(1) });
      expect(inFlight?.entry.id).toBe(id);
      expect(await store.deliveries.redeliver(id, at(2))).toMatchObject({ status: 'pending', attempts: 0 });
      // The attempt claimed before ends (its receiver said 410): its outcome is not written.
      const gone = { status: 'dead', attempts: 1, attempted_at: at(3), status_code: 410, error: 'HTTP 410' } as const;
      expect(await store.deliveries.recordAttempt(id, gone, at(3), inFlight.entry.updated_at)).toBe(false);
      expect(await store.deliveries.getDelivery(id)).toMatchObject({ status: 'pending', attempts: 0 });
      // The redelivery is claimed and recorded as any attempt.
      const [again] = await claimDeliveries(store, { limit: 10, leaseMs: 60_000, now: at(4) });
      expect(again?.entry.id).toBe(id);
      const ok = { status: 'delivered', attempts: 1, attempted_at: at(5), status_code: 204 } as const;
      expect(await store.deliveries.recordAttempt(id, ok, at(5), again.entry.updated_at)).toBe(true);
      expect(await store.deliveries.getDelivery(id)).toMatchObject({ status: 'delivered', attempts: 1 });
      expect(await store.deliveries.countClaims()).toBe(0);
      await expect(store.deliveries.recordAttempt(`${run.id}-99`, ok, at(6), at(0))).rejects.toBeInstanceOf(
        NotFoundError,
      );
    });

    it('drops a late outcome of a sender whose lease ran out once the sender that took over recorded', async () => {
      const store = current();
      const other = await connect();
      const run = await insert(0, withHook(['CREATED']));
      const id = `${run.id}-1`;
      const [slow] = await claimDeliveries(store, { limit: 10, leaseMs: 10_000, now: at(1) });
      const [takeover] = await claimDeliveries(other, { limit: 10, leaseMs: 10_000, now: at(20) });
      expect(takeover?.entry.id).toBe(id);
      const ok = { status: 'delivered', attempts: 1, attempted_at: at(21), status_code: 204 } as const;
      expect(await other.deliveries.recordAttempt(id, ok, at(21), takeover.entry.updated_at)).toBe(true);
      const late = {
        status: 'failing',
        attempts: 1,
        attempted_at: at(22),
        next_attempt_at: at(30),
        error: 'HTTP 500',
      } as const;
      expect(await store.deliveries.recordAttempt(id, late, at(22), slow.entry.updated_at)).toBe(false);
      expect(await store.deliveries.getDelivery(id)).toMatchObject({ status: 'delivered', attempts: 1 });
    });

    it('gives each due delivery to exactly one of several contending connections', async () => {
      const runs = [];
      for (let i = 0; i < 6; i++) runs.push(await insert(i, withHook(['CREATED'])));
      const connections = [current(), await connect(), await connect()];
      const claims = await Promise.all(
        connections.map((store) => claimDeliveries(store, { limit: 10, leaseMs: 60_000, now: at(30) })),
      );
      const ids = claims.flat().map((c) => c.entry.id);
      expect([...ids].sort()).toEqual(runs.map((r) => `${r.id}-1`).sort());
      // Held: nobody else gets them while the lease lasts.
      expect(await claimDeliveries(connections[1], { limit: 10, leaseMs: 60_000, now: at(31) })).toEqual([]);
      // A finished attempt, its lease given back, is not claimed again.
      const first = claims.flat()[0];
      await current().deliveries.recordAttempt(
        first.entry.id,
        { status: 'delivered', attempts: 1, attempted_at: at(32), status_code: 200 },
        at(32),
      );
      await releaseDelivery(current(), first);
      expect(await claimDeliveries(connections[2], { limit: 10, leaseMs: 60_000, now: at(33) })).toEqual([]);
      // A lease that ran out (a crashed sender) lets another process take the attempt.
      const retaken = await claimDeliveries(connections[2], { limit: 10, leaseMs: 60_000, now: at(100) });
      expect(retaken).toHaveLength(5);
    });

    it("passes over a capped receiver's deliveries and claims other receivers' further back", async () => {
      const store = current();
      const hook = (url: string) => ({ event_delivery: { webhook_url: url, event_types: ['CREATED'] } });
      const busyOnes = [];
      for (let i = 0; i < 40; i++) busyOnes.push(await insert(i, hook(HOOK)));
      const sameReceiver = await insert(40, hook('https://hooks.example.com:443/another/path'));
      const others = [
        await insert(41, hook('https://other.example.com/hook')),
        await insert(42, hook('http://hooks.example.com/gyoza')),
      ];
      const claimed = await claimDeliveries(store, {
        limit: 16,
        leaseMs: 60_000,
        now: at(100),
        perReceiver: 4,
        capped: new Map([[receiverOf(HOOK), 1]]),
      });
      expect(claimed.map((c) => c.entry.id)).toEqual([
        ...busyOnes.slice(0, 3).map((r) => `${r.id}-1`),
        ...others.map((r) => `${r.id}-1`),
      ]);
      // Without a cap, the rest in order, soonest due first as always.
      const rest = await claimDeliveries(store, { limit: 50, leaseMs: 60_000, now: at(100) });
      expect(rest.map((c) => c.entry.id)).toEqual([...busyOnes.slice(3), sameReceiver].map((r) => `${r.id}-1`));
    });

    it('leaves no per-delivery claim state once the claimed attempts are recorded', async () => {
      const runs = [];
      for (let i = 0; i < 8; i++) runs.push(await insert(i, withHook(['CREATED'])));
      const other = await connect();
      const store = current();
      const delivered = (seconds: number) =>
        ({ status: 'delivered', attempts: 1, attempted_at: at(seconds), status_code: 204 }) as const;
      // Half are sent at once; the rest fail once, are dropped by a crashed sender and taken over.
      const first = await claimDeliveries(store, { limit: 4, leaseMs: 10_000, now: at(20) });
      const second = await claimDeliveries(other, { limit: 10, leaseMs: 10_000, now: at(20) });
      expect(first).toHaveLength(4);
      expect(second).toHaveLength(4);
      expect(await store.deliveries.countClaims()).toBe(8);
      for (const claim of first) await store.deliveries.recordAttempt(claim.entry.id, delivered(21), at(21));
      for (const claim of second) {
        await other.deliveries.recordAttempt(
          claim.entry.id,
          { status: 'failing', attempts: 1, attempted_at: at(21), next_attempt_at: at(25), error: 'HTTP 500' },
          at(21),
        );
      }
      expect(await store.deliveries.countClaims()).toBe(0);
      const retried = await claimDeliveries(other, { limit: 10, leaseMs: 10_000, now: at(30) }); // then "crashes"
      expect(retried).toHaveLength(4);
      expect(await claimDeliveries(store, { limit: 10, leaseMs: 10_000, now: at(35) })).toEqual([]);
      const takenOver = await claimDeliveries(store, { limit: 10, leaseMs: 10_000, now: at(41) });
      expect(takenOver.map((c) => c.entry.id).sort()).toEqual(retried.map((c) => c.entry.id).sort());
      for (const claim of takenOver) {
        await store.deliveries.recordAttempt(claim.entry.id, { ...delivered(42), attempts: 2 }, at(42));
      }
      expect(await store.deliveries.countDeliveries()).toEqual({ pending: 0, failing: 0, delivered: 8, dead: 0 });
      expect(await store.deliveries.countClaims()).toBe(0);
      expect((await store.deliveries.recover(at(0), at(100))).applied).toBe(0);
      expect(await store.deliveries.countClaims()).toBe(0);
    });

    it('holds back a run while its head delivery is claimed, and lets it go when given back', async () => {
      const store = current();
      const run = await insert(0, withHook());
      await store.runs.appendEvents(run.id, [{ attempt: 1, type: 'LOG', msg: 'x' }], at(1));
      const [head] = await claimDeliveries(store, { limit: 10, leaseMs: 10_000, now: at(2), holder: 'a' });
      expect(head.entry.id).toBe(`${run.id}-1`);
      expect(await claimDeliveries(store, { limit: 10, leaseMs: 10_000, now: at(3) })).toEqual([]);
      await store.deliveries.releaseClaim(head.entry.id, 'someone else');
      expect(await claimDeliveries(store, { limit: 10, leaseMs: 10_000, now: at(3) })).toEqual([]);
      await releaseDelivery(store, head);
      expect(await store.deliveries.countClaims()).toBe(0);
      const again = await claimDeliveries(store, { limit: 10, leaseMs: 10_000, now: at(4) });
      expect(again.map((c) => c.entry.id)).toEqual([`${run.id}-1`]);
    });

    it('tells its listeners when it writes an event that has a delivery, and only then', async () => {
      const store = current();
      let calls = 0;
      const unsubscribe = store.deliveries.onDeliveriesWritten(() => calls++);
      try {
        await insert(0); // no event_delivery
        const quiet = await insert(0, withHook(['CANCELLED']));
        await store.runs.appendEvents(quiet.id, [{ attempt: 1, type: 'LOG', msg: 'x' }], at(1));
        expect(calls).toBe(0);
        await store.runs.saveTransition(cancel(quiet, at(2)), at(2));
        expect(calls).toBeGreaterThan(0);
        calls = 0;
        await insert(3, withHook());
        expect(calls).toBeGreaterThan(0);
      } finally {
        unsubscribe();
      }
      calls = 0;
      await insert(4, withHook());
      expect(calls).toBe(0);
    });
  });
}
