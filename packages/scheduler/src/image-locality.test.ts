import { join } from 'node:path';
import type { ConstraintsInput, OpRun } from '@gyoza/domain';
import type { Store } from '@gyoza/store';
import { openSqliteStore } from '@gyoza/store-sqlite';
import { heartbeat, newRun, temporaryDirectory } from '@gyoza/test-support';
import { Scheduler, type SchedulerOptions } from './index';

const T0 = Date.UTC(2026, 0, 1);
const DIGEST = `sha256:${'b'.repeat(64)}`;

describe('image locality (SQLite)', () => {
  let remove: () => void;
  let store: Store;
  let schedulers: Scheduler[];
  let now: Date;
  const clock = () => now;
  const advance = (seconds: number) => {
    now = new Date(now.getTime() + seconds * 1000);
  };

  beforeEach(async () => {
    const dir = temporaryDirectory('gyoza-locality-');
    remove = dir.remove;
    store = await openSqliteStore({ path: join(dir.dir, 'gyoza.db') });
    schedulers = [];
    now = new Date(T0);
  });

  afterEach(async () => {
    for (const s of schedulers) await s.stop();
    await store.close();
    remove();
  });

  function scheduler(options: Partial<SchedulerOptions> = {}): Scheduler {
    const s = new Scheduler({ store, clock, pollIntervalMs: 20, ...options });
    schedulers.push(s);
    return s;
  }

  /** Two workers of the same shape; only `holder` lists `images`. */
  async function twoWorkers(s: Scheduler, images: string[], cpuCores = 8): Promise<void> {
    await s.heartbeat({ ...heartbeat('holder', { cpuCores }), images });
    await s.heartbeat({ ...heartbeat('other', { cpuCores }), images: ['alpine:3.20'] });
  }

  async function submit(image: string, constraints: ConstraintsInput = { cpu_cores: 1 }): Promise<OpRun> {
    advance(0.001); // distinct creation times, as in real life
    return (await store.runs.createRun(newRun({ image, constraints }, now), now)).run;
  }

  it('gives the run to the worker holding its image when both claim, whichever asks first', async () => {
    const s = scheduler();
    await twoWorkers(s, ['busybox:latest']);
    const run = await submit('busybox');
    const [byOther, byHolder] = await Promise.all([s.claim('other'), s.claim('holder')]);
    expect(byOther).toEqual([]);
    expect(byHolder.map((r) => [r.id, r.worker_id])).toEqual([[run.id, 'holder']]);
  });

  it('over 20 runs claimed alternately, the holder gets all of them; without locality, half', async () => {
    const share = async (waitSeconds: number) => {
      const s = scheduler({ imageLocalityWaitSeconds: waitSeconds });
      await twoWorkers(s, ['gyoza/train:1'], 64);
      for (let i = 0; i < 20; i++) await submit('gyoza/train:1');
      let holder = 0;
      for (let i = 0; i < 20; i++) {
        for (const worker of ['other', 'holder']) {
          for (const r of await s.claim(worker)) if (r.worker_id === 'holder') holder += 1;
        }
      }
      return holder;
    };
    // The passes share the store: the first leaves its 20 runs assigned, which 64 cores hold.
    const withLocality = await share(10);
    const withoutLocality = await share(0);
    expect(withLocality).toBe(20);
    expect(withoutLocality).toBe(10);
  });

  it('gives a run at once to any worker when no active worker that could run it holds its image', async () => {
    const s = scheduler();
    await twoWorkers(s, ['busybox:latest']);
    const alpine = await submit('alpine:3.19');
    expect((await s.claim('other')).map((r) => r.id)).toEqual([alpine.id]);
    // The holder has 8 cores: a 16-core run could never go there, so nobody waits for it.
    await s.heartbeat({ ...heartbeat('big', { cpuCores: 32 }) });
    const big = await submit('busybox', { cpu_cores: 16 });
    expect((await s.claim('big')).map((r) => r.id)).toEqual([big.id]);
  });

  it('leaves the run to the holder for the bounded wait only, then anyone takes it', async () => {
    const s = scheduler({ imageLocalityWaitSeconds: 10 });
    await twoWorkers(s, ['busybox:latest']);
    const run = await submit('busybox');
    expect(await s.claim('other')).toEqual([]);
    advance(9.9);
    expect(await s.claim('other')).toEqual([]);
    advance(0.1);
    expect((await s.claim('other')).map((r) => [r.id, r.worker_id])).toEqual([[run.id, 'other']]);
  });

  it('says in pending_reason which worker the run waits for, with which image, and how long at most', async () => {
    const s = scheduler({ imageLocalityWaitSeconds: 10 });
    await twoWorkers(s, ['busybox:latest']);
    const run = await submit('busybox');
    expect(await s.pendingReason(run)).toBe('waiting up to 10s for worker holder, which has image busybox');
    advance(4);
    expect(await s.pendingReason(run)).toBe('waiting up to 6s for worker holder, which has image busybox');
    advance(6);
    expect(await s.pendingReason(run)).toBeUndefined();
  });

  it('matches images by repo:tag in any spelling and by digest', async () => {
    const s = scheduler();
    await twoWorkers(s, ['docker.io/library/busybox:latest', `127.0.0.1:5000/gyoza/x@${DIGEST}`]);
    const plain = await submit('busybox');
    const byDigest = await submit(`127.0.0.1:5000/gyoza/x:1@${DIGEST}`);
    const otherTag = await submit('busybox:1.36');
    expect((await s.claim('other', { limit: 3 })).map((r) => r.id)).toEqual([otherTag.id]);
    expect((await s.claim('holder', { limit: 3 })).map((r) => r.id).sort()).toEqual([plain.id, byDigest.id].sort());
  });

  it('a worker whose heartbeat lists the image takes the run at once', async () => {
    const s = scheduler();
    await twoWorkers(s, ['busybox']);
    await s.heartbeat({ ...heartbeat('other'), images: ['busybox:latest'] });
    const run = await submit('busybox');
    expect((await s.claim('other')).map((r) => r.id)).toEqual([run.id]);
  });
});
