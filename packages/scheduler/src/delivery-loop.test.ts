import { join } from 'node:path';
import { verifyWebhook } from '@gyoza/client';
import { cancel, type EventDelivery } from '@gyoza/domain';
import type { Store } from '@gyoza/store';
import { openMongoStore } from '@gyoza/store-mongo';
import { openSqliteStore } from '@gyoza/store-sqlite';
import {
  addRun,
  commitWithoutApplying,
  startWebhookReceiver,
  type TemporaryDirectory,
  temporaryDirectory,
  temporaryMongoDatabase,
  type WebhookReceiver,
  waitFor,
} from '@gyoza/test-support';
import { DeliveryLoop, type DeliveryLoopOptions, retryDelayMs } from './delivery-loop';
import { TargetGuard } from './webhook-send';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

describe('DeliveryLoop', () => {
  let dir: TemporaryDirectory;
  let store: Store;
  let receiver: WebhookReceiver;
  const loops: DeliveryLoop[] = [];

  beforeEach(async () => {
    dir = temporaryDirectory('gyoza-delivery-');
    store = await openSqliteStore({ path: join(dir.dir, 'gyoza.db') });
    receiver = await startWebhookReceiver();
  });

  afterEach(async () => {
    for (const loop of loops.splice(0)) await loop.stop();
    await receiver.close();
    await store.close();
    dir.remove();
  });

  function startLoop(options: Partial<DeliveryLoopOptions> = {}, on: Store = store): DeliveryLoop {
    const loop = new DeliveryLoop({
      store: on,
      allowNetworks: ['127.0.0.0/8'],
      retryBaseMs: 20,
      pollIntervalMs: 20,
      timeoutMs: 2000,
      ...options,
    });
    loops.push(loop);
    loop.start();
    return loop;
  }

  const hook = (delivery: Omit<EventDelivery, 'webhook_url'> = {}) => ({
    event_delivery: { webhook_url: receiver.url, secret: SECRET, ...delivery },
  });

  const statusOf = async (id: string) => (await store.deliveries.getDelivery(id))?.status;
  const untilStatus = (id: string, status: string) =>
    waitFor(`${id} ${status}`, async () => ((await statusOf(id)) === status ? true : undefined));

  it('sends signed Standard Webhooks that the client helper verifies, only for the event types asked for', async () => {
    const run = await addRun(store, hook({ event_types: ['CREATED', 'CANCELLED'] }));
    await store.runs.appendEvents(run.id, [{ attempt: 1, type: 'LOG', msg: 'not wanted' }], new Date());
    await store.runs.saveTransition(cancel(run, new Date()), new Date());
    startLoop();
    await waitFor('two webhooks', async () => (receiver.received.length >= 2 ? true : undefined));
    await untilStatus(`${run.id}-3`, 'delivered');
    const messages = receiver.received.map((w) => verifyWebhook(w.headers, w.body, SECRET));
    expect(messages.map((m) => [m.type, m.data.run_id, m.data.event.index, m.data.state])).toEqual([
      ['run.created', run.id, 1, 'PENDING'],
      ['run.cancelled', run.id, 3, 'CANCELLED'],
    ]);
    expect(receiver.received.map((w) => w.headers['webhook-id'])).toEqual([`${run.id}-1`, `${run.id}-3`]);
    expect(() => verifyWebhook(receiver.received[0].headers, receiver.received[0].body, 'whsec_b3RoZXI=')).toThrow(
      /no webhook-signature matches/,
    );
    expect(() => verifyWebhook(receiver.received[0].headers, `${receiver.received[0].body} `, SECRET)).toThrow();
    expect(await store.deliveries.getDelivery(`${run.id}-2`)).toBeNull();
  });

  it("delivers each run's events in order, the next waiting for an earlier one that fails", async () => {
    const run = await addRun(store, hook());
    for (let i = 1; i <= 5; i++)
      await store.runs.appendEvents(run.id, [{ attempt: 1, type: 'LOG', msg: `${i}` }], new Date());
    // The second webhook fails twice before it succeeds: the later ones must wait for it.
    let failures = 0;
    receiver.answer = (w) => (JSON.parse(w.body).data.event.index === 2 && failures++ < 2 ? 500 : 204);
    startLoop();
    await untilStatus(`${run.id}-6`, 'delivered');
    const indexes = receiver.received.map((w) => JSON.parse(w.body).data.event.index);
    expect(indexes).toEqual([1, 2, 2, 2, 3, 4, 5, 6]);
  });

  it('retries a 500 with the same webhook-id and records one delivery', async () => {
    const run = await addRun(store, hook({ event_types: ['CREATED'] }));
    receiver.answer = (_w, i) => (i === 0 ? { status: 500, body: 'x'.repeat(100_000) } : 200);
    startLoop();
    await untilStatus(`${run.id}-1`, 'delivered');
    expect(receiver.received).toHaveLength(2);
    expect(new Set(receiver.received.map((w) => w.headers['webhook-id']))).toEqual(new Set([`${run.id}-1`]));
    const delivery = await store.deliveries.getDelivery(`${run.id}-1`);
    expect(delivery).toMatchObject({ status: 'delivered', attempts: 2, last_status_code: 200 });
  });

  it('keeps retrying while the receiver is down, then delivers', async () => {
    const run = await addRun(store, hook({ event_types: ['CREATED'] }));
    await receiver.close();
    startLoop({ maxAttempts: 50 });
    await waitFor('failed attempts', async () => {
      const d = await store.deliveries.getDelivery(`${run.id}-1`);
      return d && d.attempts >= 2 && d.status === 'failing' ? d : undefined;
    });
    expect((await store.deliveries.getDelivery(`${run.id}-1`))?.last_error).toMatch(/ECONNREFUSED/);
    await receiver.listen();
    await untilStatus(`${run.id}-1`, 'delivered');
    expect(receiver.received).toHaveLength(1);
  });

  it('stops at once on 410 Gone', async () => {
    const run = await addRun(store, hook({ event_types: ['CREATED'] }));
    receiver.answer = () => 410;
    startLoop();
    await untilStatus(`${run.id}-1`, 'dead');
    expect(await store.deliveries.getDelivery(`${run.id}-1`)).toMatchObject({ attempts: 1, last_status_code: 410 });
    expect(receiver.received).toHaveLength(1);
  });

  it('times out a slow receiver and retries', async () => {
    const run = await addRun(store, hook({ event_types: ['CREATED'] }));
    receiver.answer = (_w, i) => (i === 0 ? 'hang' : 204);
    startLoop({ timeoutMs: 300 });
    await untilStatus(`${run.id}-1`, 'delivered');
    const delivery = await store.deliveries.getDelivery(`${run.id}-1`);
    expect(delivery).toMatchObject({ attempts: 2 });
    expect(receiver.received).toHaveLength(2);
  });

  it('gives up a hanging attempt when it stops, not waiting for the timeout; the attempt is made again', async () => {
    const run = await addRun(store, hook({ event_types: ['CREATED'] }));
    receiver.answer = (_w, i) => (i === 0 ? 'hang' : 204);
    const first = startLoop({ timeoutMs: 60_000 });
    await waitFor('the hanging attempt', async () => (receiver.received.length === 1 ? true : undefined));
    const stopping = Date.now();
    await first.stop();
    // Far below the 60 s timeout it used to wait for (a loaded machine gets room).
    expect(Date.now() - stopping).toBeLessThan(10_000);
    expect(await store.deliveries.getDelivery(`${run.id}-1`)).toMatchObject({ status: 'pending', attempts: 0 });
    // Another process takes the attempt over once its lease has run out (short here).
    const clock = () => new Date(Date.now() + 200_000);
    startLoop({ clock });
    await untilStatus(`${run.id}-1`, 'delivered');
    expect(receiver.received).toHaveLength(2);
  });

  it('keeps a receiver that hangs to half the slots, so it does not hold back another receiver', async () => {
    receiver.answer = () => 'hang';
    const other = await startWebhookReceiver();
    try {
      for (let i = 0; i < 40; i++) await addRun(store, hook({ event_types: ['CREATED'] }));
      const run = await addRun(store, { event_delivery: { webhook_url: other.url, event_types: ['CREATED'] } });
      // Each failed attempt is due again at once (retryBaseMs 20): all 40 stay ahead of the other run.
      startLoop({ timeoutMs: 600 });
      await waitFor('the other receiver', async () => (other.received.length === 1 ? true : undefined));
      // 16 before the receiver was known slow, then 8 at a time beside the other run (40 before: all of them first).
      expect(receiver.received.length).toBeLessThanOrEqual(24);
      await untilStatus(`${run.id}-1`, 'delivered');
    } finally {
      await other.close();
    }
  });

  it("sends a run's events to a fast receiver one after another while a slow one holds its share", async () => {
    receiver.answer = () => 'hang';
    const fast = await startWebhookReceiver();
    try {
      for (let i = 0; i < 8; i++) await addRun(store, hook({ event_types: ['CREATED'] }));
      // No idle poll to fall back on: each event must go because the one before finished, not
      // when the hanging attempts time out (8 s).
      startLoop({ slowReceiverMs: 100, pollIntervalMs: 60_000, timeoutMs: 8000 });
      await waitFor('8 hanging attempts', async () => (receiver.received.length === 8 ? true : undefined));
      await new Promise((resolve) => setTimeout(resolve, 300)); // in flight long enough to be slow
      const run = await addRun(store, { event_delivery: { webhook_url: fast.url, event_types: ['CREATED', 'LOG'] } });
      const logs = Array.from({ length: 9 }, (_, i) => ({ attempt: 1, type: 'LOG' as const, msg: `line ${i}` }));
      await store.runs.appendEvents(run.id, logs, new Date());
      // Before: after each delivery the loop waited for 4 attempts to finish (the hanging ones).
      await waitFor('10 webhooks in order', async () => (fast.received.length === 10 ? true : undefined), {
        timeoutMs: 6000,
      });
    } finally {
      await fast.close();
    }
  });

  it('does not take a slow store for a slow receiver', async () => {
    for (let i = 0; i < 40; i++) await addRun(store, hook({ event_types: ['CREATED'] }));
    // Recording each outcome takes longer than a slow answer would: the receiver answers at once.
    const record = store.deliveries.recordAttempt.bind(store.deliveries);
    store.deliveries.recordAttempt = async (...args) => {
      await new Promise((resolve) => setTimeout(resolve, 1500));
      return record(...args);
    };
    const claimDue = store.deliveries.claimDue.bind(store.deliveries);
    const capped: string[] = [];
    store.deliveries.claimDue = (request) => {
      capped.push(...(request.capped?.keys() ?? []));
      return claimDue(request);
    };
    startLoop({ slowReceiverMs: 1000 });
    await waitFor('40 webhooks', async () => (receiver.received.length === 40 ? true : undefined));
    expect(capped).toEqual([]);
  });

  it('lets a receiver that is not slow use every slot', async () => {
    receiver.answer = () => 'hang';
    for (let i = 0; i < 20; i++) await addRun(store, hook({ event_types: ['CREATED'] }));
    startLoop({ slowReceiverMs: 60_000 });
    await waitFor('16 attempts at once', async () => (receiver.received.length === 16 ? true : undefined));
  });

  it('is dead after the attempt limit, and a redelivery sends it again', async () => {
    const run = await addRun(store, hook({ event_types: ['CREATED'] }));
    receiver.answer = () => 503;
    startLoop({ maxAttempts: 3 });
    await untilStatus(`${run.id}-1`, 'dead');
    expect(await store.deliveries.getDelivery(`${run.id}-1`)).toMatchObject({ attempts: 3, last_error: 'HTTP 503' });
    expect(receiver.received).toHaveLength(3);
    receiver.answer = () => 204;
    await store.deliveries.redeliver(`${run.id}-1`, new Date());
    await untilStatus(`${run.id}-1`, 'delivered');
    expect(receiver.received).toHaveLength(4);
  });

  it('sends a redelivery asked for while an attempt hangs, whatever that attempt ends with', async () => {
    const run = await addRun(store, hook({ event_types: ['CREATED'] }));
    const id = `${run.id}-1`;
    receiver.answer = (_webhook, index) => (index === 0 ? 'hang' : 204);
    startLoop({ maxAttempts: 1, timeoutMs: 1000 });
    await waitFor('the first attempt', async () => (receiver.received.length === 1 ? true : undefined));
    await store.deliveries.redeliver(id, new Date());
    // The hanging attempt times out (dead at the limit of 1): that outcome must not undo the redelivery.
    await untilStatus(id, 'delivered');
    expect(receiver.received).toHaveLength(2);
    expect(await store.deliveries.getDelivery(id)).toMatchObject({ attempts: 1, last_status_code: 204 });
  });

  it('refuses internal targets that are not allowed, on the resolved address', async () => {
    const run = await addRun(store, {
      event_delivery: { webhook_url: `http://localhost:${receiver.port}/hook`, event_types: ['CREATED'] },
    });
    startLoop({ allowNetworks: [] });
    await untilStatus(`${run.id}-1`, 'dead');
    expect((await store.deliveries.getDelivery(`${run.id}-1`))?.last_error).toMatch(/internal address/);
    expect(receiver.received).toHaveLength(0);
  });

  it('wakes as soon as this process writes a delivery, without waiting for its poll', async () => {
    // Claims counted, so the test knows when the loop's first poll (which finds nothing) is over.
    let polls = 0;
    let polling = 0;
    const deliveries = Object.create(store.deliveries) as Store['deliveries'];
    deliveries.claimDue = async (request) => {
      polling++;
      try {
        return await store.deliveries.claimDue(request);
      } finally {
        polling--;
        polls++;
      }
    };
    startLoop({ pollIntervalMs: 600_000 }, { ...store, deliveries });
    // Past its first poll the loop sleeps for ten minutes: only a wake-up can send what follows.
    await waitFor('first poll over', async () => (polls === 1 && polling === 0 ? true : undefined));
    const run = await addRun(store, hook({ event_types: ['CREATED'] }));
    await untilStatus(`${run.id}-1`, 'delivered');
    const later = await addRun(store, hook({ event_types: ['CREATED'] }));
    await untilStatus(`${later.id}-1`, 'delivered');
    expect(receiver.received.map((w) => w.headers['webhook-id'])).toEqual([`${run.id}-1`, `${later.id}-1`]);
  });

  it('delivers the event of a transition that a crashed MongoDB writer committed but never applied', async () => {
    const database = temporaryMongoDatabase('gyoza_delivery_crash');
    const mongo = await openMongoStore({ uri: database.uri, dbName: database.dbName });
    try {
      const run = await addRun(mongo, hook({ event_types: ['CANCELLED'] }));
      await commitWithoutApplying(database.uri, database.dbName, cancel(run, new Date()), new Date());
      // Nobody reads the run: only the loop's roll-forward can bring its CANCELLED event in.
      expect(await mongo.deliveries.listDeliveries({ run_id: run.id })).toEqual([]);
      startLoop({ recoverIntervalMs: 600_000 }, mongo);
      await waitFor('the CANCELLED webhook', async () => (receiver.received.length >= 1 ? true : undefined));
      await loops.splice(0).pop()?.stop();
      const [message] = receiver.received.map((w) => verifyWebhook(w.headers, w.body, SECRET));
      expect([message.type, message.data.run_id, message.data.state]).toEqual(['run.cancelled', run.id, 'CANCELLED']);
      expect((await mongo.deliveries.listDeliveries({ run_id: run.id })).map((d) => d.status)).toEqual(['delivered']);
      expect(await mongo.deliveries.countClaims()).toBe(0);
    } finally {
      await mongo.close();
      await database.drop();
    }
  });

  it('sends each delivery once with several loops on one database', async () => {
    const others = [
      await openSqliteStore({ path: join(dir.dir, 'gyoza.db') }),
      await openSqliteStore({ path: join(dir.dir, 'gyoza.db') }),
    ];
    try {
      const runs = [];
      for (let i = 0; i < 20; i++) runs.push(await addRun(store, hook({ event_types: ['CREATED'] })));
      startLoop();
      for (const other of others) startLoop({}, other);
      for (const run of runs) await untilStatus(`${run.id}-1`, 'delivered');
      const ids = receiver.received.map((w) => w.headers['webhook-id']);
      expect(ids).toHaveLength(20);
      expect(new Set(ids).size).toBe(20);
    } finally {
      for (const loop of loops.splice(0)) await loop.stop();
      for (const other of others) await other.close();
    }
  });
});

describe('TargetGuard', () => {
  it('refuses loopback, private, link-local and metadata addresses unless allowed', () => {
    const guard = new TargetGuard(['10.1.0.0/16']);
    for (const address of [
      '127.0.0.1',
      '10.0.0.5',
      '172.16.3.4',
      '192.168.1.1',
      '169.254.169.254',
      '::1',
      'fd00:ec2::254',
      'fe80::1',
      '::ffff:127.0.0.1',
      '0.0.0.0',
    ]) {
      expect([address, guard.refusal(address)]).toEqual([address, expect.stringMatching(/internal address/)]);
    }
    for (const address of ['10.1.2.3', '93.184.216.34', '2606:4700::1111']) expect(guard.refusal(address)).toBeNull();
  });
});

describe('retryDelayMs', () => {
  it('grows from 5 s to 8 h with the default base, within 20% jitter', () => {
    expect(retryDelayMs(1, 5000, () => 0.5)).toBe(5000);
    expect(retryDelayMs(2, 5000, () => 0.5)).toBe(30_000);
    expect(retryDelayMs(3, 5000, () => 0.5)).toBe(120_000);
    expect(retryDelayMs(4, 5000, () => 0)).toBe(480_000);
    expect(retryDelayMs(40, 5000, () => 1)).toBe(28_800_000 * 1.2);
  });
});
