import {
  applyWorkerEvent,
  assign,
  ConcurrentModificationError,
  type ConstraintsInput,
  cancel,
  complete,
  createRun,
  defineOp,
  EMPTY_HELD_DIGEST,
  fail,
  freeCapacity,
  heldRunsDigest,
  isWithinCapacity,
  NotFoundError,
  type OpDefinition,
  type OpRun,
  release,
  reprioritize,
  retry,
  start,
  ValidationError,
  WorkerNotActiveError,
} from '@gyoza/domain';
import {
  type ClaimPlanner,
  heldDigestOf,
  holdingWorkerIdsOf,
  type Store,
  timedOutRunsOf,
  updateRun,
} from '@gyoza/store';
import { fitPlanner } from './fit-planner';
import { heartbeat, newRun as newAdHocRun } from './fixtures';
import { describeOutboxContract } from './outbox-contract';

/** What an adapter gives the contract: connections to one fresh database. */
export interface StoreHarness {
  /** A new connection to the same database on every call. */
  open(): Promise<Store>;
  /** Drops the database (connections are closed by the suite first). */
  destroy(): Promise<void>;
}

const T0 = Date.UTC(2026, 0, 1);
const at = (seconds: number) => new Date(T0 + seconds * 1000);

function newRun(seconds: number, options: { priority?: number; constraints?: ConstraintsInput; key?: string } = {}) {
  return newAdHocRun(
    {
      image: 'busybox:latest',
      priority: options.priority,
      constraints: options.constraints,
      idempotency_key: options.key,
      retry_policy: { max_attempts: 3, backoff_seconds: 5 },
    },
    at(seconds),
  );
}

async function captured(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

/**
 * The behaviour every store adapter must have, specified once. Each adapter's tests call
 * this with a factory of fresh databases.
 */
export function describeStoreContract(name: string, newHarness: () => Promise<StoreHarness>): void {
  describe(`store contract: ${name}`, () => {
    let harness: StoreHarness;
    let opened: Store[];
    let store: Store;

    const connect = async () => {
      const s = await harness.open();
      opened.push(s);
      return s;
    };

    beforeEach(async () => {
      harness = await newHarness();
      opened = [];
      store = await connect();
    });

    afterEach(async () => {
      for (const s of opened) await s.close();
      await harness.destroy();
    });

    async function insert(seconds: number, options?: Parameters<typeof newRun>[1]): Promise<OpRun> {
      return (await store.runs.createRun(newRun(seconds, options), at(seconds))).run;
    }

    describe('definitions', () => {
      const def = (id: string, version: string, seconds: number, image = 'img:1'): OpDefinition =>
        defineOp(
          {
            id,
            version,
            image,
            image_pull_policy: 'always',
            description: 'Größe ändern — 画像',
            input_specs: {
              size: { type: 'integer', default: 512, description: 'px' },
              tags: { type: 'array', required: false },
            },
            output_specs: { url: { type: 'string' } },
            constraints: { cpu_cores: 1.5, vram_mb: 2048, gpu_tags: ['cuda'], timeout_seconds: 30, shm_size_mb: 8192 },
            retry_policy: { max_attempts: 4, backoff_seconds: 1.5, max_backoff_seconds: 60 },
            event_delivery: { webhook_url: 'http://127.0.0.1:9/hook', event_types: ['COMPLETED'], secret: 's3cr3t' },
          },
          at(seconds),
        );

      it('round-trips every field', async () => {
        const d = def('resize', '1.0', 1);
        expect(await store.definitions.putDefinition(d)).toStrictEqual(d);
        expect(await store.definitions.getDefinition('resize', '1.0')).toStrictEqual(d);
        const bare = defineOp({ id: 'bare', version: '1', image: 'x' }, at(2));
        await store.definitions.putDefinition(bare);
        expect(await store.definitions.getDefinition('bare')).toStrictEqual(bare);
      });

      it('replaces the same id and version but keeps its created_at', async () => {
        await store.definitions.putDefinition(def('op', '1', 1, 'img:1'));
        const replaced = await store.definitions.putDefinition(def('op', '1', 50, 'img:2'));
        expect(replaced.created_at).toEqual(at(1));
        const got = await store.definitions.getDefinition('op', '1');
        expect(got?.image).toBe('img:2');
        expect(got?.created_at).toEqual(at(1));
        expect(got?.updated_at).toEqual(at(50));
        expect(await store.definitions.listDefinitionVersions('op')).toHaveLength(1);
      });

      it('keeps one created_at when two first deploys of a version race from two connections', async () => {
        const other = await connect();
        for (let i = 0; i < 10; i++) {
          const id = `race${i}`;
          const [a, b] = await Promise.all([
            store.definitions.putDefinition(def(id, '1', 10 * i, 'img:a')),
            other.definitions.putDefinition(def(id, '1', 10 * i + 2, 'img:b')),
          ]);
          const stored = await store.definitions.getDefinition(id, '1');
          expect(b.created_at).toEqual(a.created_at);
          expect(stored?.created_at).toEqual(a.created_at);
          // A version made between the two instants is latest exactly when it is newer.
          await store.definitions.putDefinition(def(id, '2', 10 * i + 1));
          const versions = await store.definitions.listDefinitionVersions(id);
          const times = versions.map((v) => v.created_at.getTime());
          expect(times).toEqual([...times].sort((x, y) => y - x));
          expect((await store.definitions.getDefinition(id))?.version).toBe(versions[0].version);
        }
      });

      it('"latest" is the most recently created version', async () => {
        await store.definitions.putDefinition(def('op', '2.0', 1));
        await store.definitions.putDefinition(def('op', '10.0', 2));
        await store.definitions.putDefinition(def('op', '1.5', 3));
        expect((await store.definitions.getDefinition('op'))?.version).toBe('1.5');
        // Re-deploying an old version does not make it latest.
        await store.definitions.putDefinition(def('op', '2.0', 9));
        expect((await store.definitions.getDefinition('op'))?.version).toBe('1.5');
        expect((await store.definitions.listDefinitionVersions('op')).map((d) => d.version)).toEqual([
          '1.5',
          '10.0',
          '2.0',
        ]);
        expect(await store.definitions.getDefinition('op', '3.0')).toBeNull();
        expect(await store.definitions.getDefinition('nope')).toBeNull();
      });

      it('lists the latest version of every id, by id', async () => {
        await store.definitions.putDefinition(def('zeta', '1', 1));
        await store.definitions.putDefinition(def('alpha', '1', 2));
        await store.definitions.putDefinition(def('alpha', '2', 3));
        await store.definitions.putDefinition(def('mid', 'b', 4));
        await store.definitions.putDefinition(def('mid', 'a', 4));
        expect((await store.definitions.listDefinitions()).map((d) => `${d.id}@${d.version}`)).toEqual([
          'alpha@2',
          'mid@b',
          'zeta@1',
        ]);
      });

      it('deletes one version or all of them', async () => {
        for (const [v, s] of [
          ['1', 1],
          ['2', 2],
          ['3', 3],
        ] as const)
          await store.definitions.putDefinition(def('op', v, s));
        expect(await store.definitions.deleteDefinition('op', '3')).toBe(1);
        expect((await store.definitions.getDefinition('op'))?.version).toBe('2');
        expect(await store.definitions.deleteDefinition('op', '3')).toBe(0);
        expect(await store.definitions.deleteDefinition('op')).toBe(2);
        expect(await store.definitions.getDefinition('op')).toBeNull();
        expect(await store.definitions.listDefinitions()).toEqual([]);
      });
    });

    describe('runs', () => {
      it('round-trips every field through create and transitions', async () => {
        const definition = defineOp(
          {
            id: 'gen',
            version: 'v1',
            image: 'gen:1',
            image_pull_policy: 'never',
            input_specs: { prompt: { type: 'string' }, opts: { type: 'object', default: { a: [1, { b: null }] } } },
            constraints: {
              cpu_cores: 0.25,
              ram_mb: 100,
              vram_mb: 1000,
              gpu_count: 2,
              gpu_tags: ['x'],
              worker_tags: ['y'],
              shm_size_mb: 2048,
            },
            retry_policy: { max_attempts: 2, backoff_seconds: 3, max_backoff_seconds: 10 },
            event_delivery: { webhook_url: 'https://h.local/x' },
          },
          at(0),
        );
        const created = createRun(
          { inputs: { prompt: 'un chat 🐱 "quoted" \\ ü' }, priority: -3, idempotency_key: 'k-ü' },
          definition,
          at(1),
          'run_roundtrip',
        );
        const { run } = await store.runs.createRun(created, at(1));
        expect(run).toStrictEqual({ ...created.run, rev: 1 });
        expect(await store.runs.getRun(run.id)).toStrictEqual(run);

        const assigned = await store.runs.saveTransition(
          assign(run, { worker_id: 'w-1', gpu_ids: [3, 1], assignment_id: 'asg_1' }, at(2)),
          at(2),
        );
        const started = await store.runs.saveTransition(start(assigned.run, { worker_id: 'w-1' }, at(3)), at(3));
        const failed = await store.runs.saveTransition(fail(started.run, 'exit 3: ✗', at(4)), at(4));
        expect(failed.run.not_before).toEqual(at(7));
        const stored = await store.runs.getRun(run.id);
        expect(stored).toStrictEqual(failed.run);
        expect(stored?.gpu_ids).toEqual([3, 1]);
        expect(stored?.assigned_at).toEqual(at(2)); // a Date, also in the stored JSON
        expect([stored?.image_pull_policy, stored?.constraints.shm_size_mb]).toEqual(['never', 2048]);
        expect(stored?.attempts[0]).toStrictEqual({
          attempt: 1,
          state: 'FAILED',
          worker_id: 'w-1',
          gpu_ids: [3, 1],
          progress: 0,
          outputs: {},
          error_message: 'exit 3: ✗',
          created_at: at(1),
          assigned_at: at(2),
          assignment_id: 'asg_1',
          started_at: at(3),
          finished_at: at(4),
        });
      });

      it('keeps optional fields absent, also after a transition clears them', async () => {
        const created = newRun(1);
        const { run } = await store.runs.createRun(created, at(1));
        expect(await store.runs.getRun(run.id)).toStrictEqual({ ...created.run, rev: 1 });
        const assigned = await store.runs.saveTransition(assign(run, { worker_id: 'w', gpu_ids: [] }, at(2)), at(2));
        const started = await store.runs.saveTransition(start(assigned.run, {}, at(3)), at(3));
        const failed = await store.runs.saveTransition(fail(started.run, 'boom', at(4)), at(4));
        const retried = await store.runs.saveTransition(retry(failed.run, at(9), { automatic: true }), at(9));
        const stored = await store.runs.getRun(run.id);
        expect(stored).toStrictEqual(retried.run);
        for (const field of ['worker_id', 'not_before', 'error_message', 'started_at', 'finished_at', 'definition_id'])
          expect(stored).not.toHaveProperty(field);
        expect(stored?.attempts).toHaveLength(2);
        // The indexed columns follow the document: the cleared worker and due time no longer match.
        expect((await store.runs.listRuns({ worker_id: 'w' })).runs).toEqual([]);
        expect((await store.runs.listRuns({ due_before: at(100) })).runs).toEqual([]);
        expect((await store.runs.listRuns({ state: 'PENDING' })).runs.map((r) => r.id)).toEqual([run.id]);
      });

      it('stores the creation events and numbers events from 1', async () => {
        const run = await insert(1);
        const events = await store.runs.listEvents(run.id);
        expect(events).toStrictEqual([
          {
            run_id: run.id,
            index: 1,
            attempt: 1,
            type: 'CREATED',
            payload: { image: 'busybox:latest' },
            created_at: at(1),
          },
        ]);
      });

      it('honors the idempotency key', async () => {
        const first = await store.runs.createRun(newRun(1, { key: 'abc' }), at(1));
        const second = await store.runs.createRun(newRun(2, { key: 'abc' }), at(2));
        expect(first.created).toBe(true);
        expect(second.created).toBe(false);
        expect(second.run).toStrictEqual(first.run);
        expect((await store.runs.listRuns({})).runs).toHaveLength(1);
        expect(await store.runs.listEvents(first.run.id)).toHaveLength(1);
        const other = await store.runs.createRun(newRun(3, { key: 'other' }), at(3));
        expect(other.created).toBe(true);
      });

      it('finds a run by its idempotency key, as it is now', async () => {
        const { run } = await store.runs.createRun(newRun(1, { key: 'k-1' }), at(1));
        await store.runs.createRun(newRun(2), at(2));
        const moved = await store.runs.saveTransition({ run: { ...run, priority: 9 }, events: [] }, at(3));
        expect(await store.runs.getRunByIdempotencyKey('k-1')).toStrictEqual(moved.run);
        expect(await store.runs.getRunByIdempotencyKey('k-2')).toBeNull();
      });

      it('concurrent creates with one idempotency key make one run', async () => {
        const connections = [store, await connect(), await connect()];
        const results = await Promise.all(
          Array.from({ length: 9 }, (_, i) => connections[i % 3].runs.createRun(newRun(i, { key: 'same' }), at(i))),
        );
        expect(results.filter((r) => r.created)).toHaveLength(1);
        expect(new Set(results.map((r) => r.run.id)).size).toBe(1);
        expect((await store.runs.listRuns({})).runs).toHaveLength(1);
      });

      it('returns null for an unknown run', async () => {
        expect(await store.runs.getRun('run_missing')).toBeNull();
      });

      it('saves a transition with its events and bumps the revision', async () => {
        const run = await insert(1);
        const saved = await store.runs.saveTransition(
          assign(run, { worker_id: 'w', gpu_ids: [], assignment_id: 'asg_2' }, at(2)),
          at(2),
        );
        expect(saved.run.rev).toBe(2);
        expect(saved.events).toStrictEqual([
          {
            run_id: run.id,
            index: 2,
            attempt: 1,
            type: 'ASSIGNED',
            payload: { worker_id: 'w', gpu_ids: [], assignment_id: 'asg_2' },
            created_at: at(2),
          },
        ]);
        expect(await store.runs.getRun(run.id)).toStrictEqual(saved.run);
      });

      it('keeps any character in messages, a NUL too, and the run stays writable after', async () => {
        const odd = 'a\u0000b \u{1F600} \\u0000 \t';
        const run = await insert(1);
        await store.runs.appendEvents(run.id, [{ attempt: 1, type: 'LOG', msg: odd }], at(2));
        const cancelled = await store.runs.saveTransition(cancel(run, at(3), odd), at(3));
        expect(cancelled.run.error_message).toBe(odd);
        const retried = await store.runs.saveTransition(retry(cancelled.run, at(4)), at(4));
        expect(retried.run.state).toBe('PENDING');
        expect(await store.runs.getRun(run.id)).toStrictEqual(retried.run);
        const events = await store.runs.listEvents(run.id);
        expect(events.map((e) => [e.type, e.msg])).toEqual([
          ['CREATED', undefined],
          ['LOG', odd],
          ['CANCELLED', odd],
          ['RETRIED', undefined],
        ]);
      });

      it('refuses a stale revision and writes nothing', async () => {
        const run = await insert(1);
        await store.runs.saveTransition(assign(run, { worker_id: 'a', gpu_ids: [] }, at(2)), at(2));
        const before = await store.runs.getRun(run.id);
        const error = await captured(store.runs.saveTransition(cancel(run, at(3)), at(3)));
        expect(error).toBeInstanceOf(ConcurrentModificationError);
        expect(await store.runs.getRun(run.id)).toStrictEqual(before);
        expect((await store.runs.listEvents(run.id)).map((e) => e.type)).toEqual(['CREATED', 'ASSIGNED']);
      });

      it('refuses a transition on an unknown run', async () => {
        const ghost = newRun(1);
        expect(
          await captured(store.runs.saveTransition(cancel({ ...ghost.run, rev: 1 }, at(2)), at(2))),
        ).toBeInstanceOf(NotFoundError);
      });

      it('loses no update when writers on several connections race', async () => {
        const run = await insert(1);
        const connections = [store, await connect(), await connect()];
        await Promise.all(
          Array.from({ length: 24 }, (_, i) =>
            updateRun(
              connections[i % 3].runs,
              run.id,
              (r) => reprioritize(r, r.priority + 1, at(2)),
              () => at(2),
              100,
            ),
          ),
        );
        const final = await store.runs.getRun(run.id);
        expect(final?.priority).toBe(24);
        expect(final?.rev).toBe(25);
      });

      it('numbers concurrent events gap-free across connections', async () => {
        const run = await insert(1);
        const connections = [store, await connect(), await connect()];
        await Promise.all(
          Array.from({ length: 30 }, (_, i) =>
            connections[i % 3].runs.appendEvents(run.id, [{ attempt: 1, type: 'LOG', msg: `line ${i}` }], at(2)),
          ),
        );
        const events = await store.runs.listEvents(run.id);
        expect(events.map((e) => e.index)).toEqual(Array.from({ length: 31 }, (_, i) => i + 1));
        expect(new Set(events.slice(1).map((e) => e.msg)).size).toBe(30);
      });

      it('lets exactly one of many concurrent starts win, with one STARTED event', async () => {
        const run = await insert(1);
        const assigned = (await store.runs.saveTransition(assign(run, { worker_id: 'w', gpu_ids: [] }, at(2)), at(2)))
          .run;
        const connections = [store, await connect(), await connect()];
        const outcomes = await Promise.allSettled(
          Array.from({ length: 12 }, (_, i) =>
            connections[i % 3].runs.saveTransition(start(assigned, { worker_id: 'w' }, at(3)), at(3)),
          ),
        );
        expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
        for (const o of outcomes) {
          if (o.status === 'rejected') expect(o.reason).toBeInstanceOf(ConcurrentModificationError);
        }
        const events = await store.runs.listEvents(run.id);
        expect(events.map((e) => [e.index, e.type])).toEqual([
          [1, 'CREATED'],
          [2, 'ASSIGNED'],
          [3, 'STARTED'],
        ]);
        expect((await store.runs.getRun(run.id))?.rev).toBe(3);
      });

      it('keeps events in the order of their transitions when writers race, gap-free beside appended ones', async () => {
        const run = await insert(1);
        const assigned = await store.runs.saveTransition(assign(run, { worker_id: 'w', gpu_ids: [] }, at(2)), at(2));
        await store.runs.saveTransition(start(assigned.run, { worker_id: 'w' }, at(3)), at(3));
        const connections = [store, await connect(), await connect()];
        // Each writer builds on the newest revision it can read: a transition's events must be
        // in before a later one can commit, or the log would say 7 before 6.
        await Promise.all([
          ...Array.from({ length: 24 }, (_, i) =>
            updateRun(
              connections[i % 3].runs,
              run.id,
              (r) => applyWorkerEvent(r, { type: 'PROGRESS', msg: r.progress + 1 }, at(4)),
              () => at(4),
              100,
            ),
          ),
          ...Array.from({ length: 12 }, (_, i) =>
            connections[(i + 1) % 3].runs.appendEvents(run.id, [{ attempt: 1, type: 'LOG', msg: `line ${i}` }], at(4)),
          ),
        ]);
        const events = await store.runs.listEvents(run.id);
        expect(events.map((e) => e.index)).toEqual(Array.from({ length: 3 + 24 + 12 }, (_, i) => i + 1));
        expect(events.filter((e) => e.type === 'PROGRESS').map((e) => e.msg)).toEqual(
          Array.from({ length: 24 }, (_, i) => String(i + 1)),
        );
        expect(events.filter((e) => e.type === 'LOG')).toHaveLength(12);
        expect((await store.runs.getRun(run.id))?.rev).toBe(3 + 24);
      });

      it('reads events after an index, up to a limit', async () => {
        const run = await insert(1);
        const appended = await store.runs.appendEvents(
          run.id,
          [
            { attempt: 1, type: 'LOG', msg: 'a' },
            { attempt: 1, type: 'INFO', payload: { nested: { deep: [1, 'ü'] } } },
            { attempt: 1, type: 'LOG', msg: 'c' },
          ],
          at(2),
        );
        expect(appended.map((e) => e.index)).toEqual([2, 3, 4]);
        expect((await store.runs.listEvents(run.id, { after: 2 })).map((e) => e.index)).toEqual([3, 4]);
        expect(await store.runs.listEvents(run.id, { after: 2, limit: 1 })).toStrictEqual([
          {
            run_id: run.id,
            index: 3,
            attempt: 1,
            type: 'INFO',
            payload: { nested: { deep: [1, 'ü'] } },
            created_at: at(2),
          },
        ]);
        expect(await store.runs.listEvents(run.id, { after: 4 })).toEqual([]);
      });

      it('refuses events of an unknown run', async () => {
        expect(await captured(store.runs.listEvents('run_nope'))).toBeInstanceOf(NotFoundError);
        expect(
          await captured(store.runs.appendEvents('run_nope', [{ attempt: 1, type: 'LOG' }], at(1))),
        ).toBeInstanceOf(NotFoundError);
      });

      it('pages through runs newest first without gaps or repeats', async () => {
        const ids: string[] = [];
        for (let i = 0; i < 23; i++) ids.push((await insert(Math.floor(i / 4))).id); // equal created_at in groups
        const seen: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await store.runs.listRuns({ limit: 5, cursor });
          seen.push(...page.runs.map((r) => r.id));
          cursor = page.next_cursor;
          pages += 1;
        } while (cursor);
        expect(pages).toBe(5);
        expect(seen).toHaveLength(23);
        expect(new Set(seen)).toEqual(new Set(ids));
        const all = await Promise.all(seen.map((id) => store.runs.getRun(id)));
        for (let i = 1; i < all.length; i++) {
          const [a, b] = [all[i - 1] as OpRun, all[i] as OpRun];
          const ordered =
            a.created_at > b.created_at || (a.created_at.getTime() === b.created_at.getTime() && a.id > b.id);
          expect(ordered).toBe(true);
        }
      });

      it('filters runs by creation time, paging without an empty last page', async () => {
        const ids: string[] = [];
        for (let i = 0; i < 7; i++) ids.push((await insert(i)).id);
        const range = { created_after: at(2), created_before: at(5) };
        const first = await store.runs.listRuns({ ...range, limit: 2 });
        expect(first.runs.map((r) => r.id)).toEqual([ids[4], ids[3]]);
        const last = await store.runs.listRuns({ ...range, limit: 2, cursor: first.next_cursor });
        expect(last.runs.map((r) => r.id)).toEqual([ids[2]]);
        expect(last.next_cursor).toBeUndefined();
        // Exactly a page's worth: no cursor to an empty page.
        const exact = await store.runs.listRuns({ ...range, limit: 3 });
        expect(exact.runs).toHaveLength(3);
        expect(exact.next_cursor).toBeUndefined();
      });

      it('filters runs by state, definition, worker and due retry', async () => {
        const a = await insert(1);
        const b = await insert(2);
        const c = await insert(3);
        const fromDef = await store.runs.createRun(
          createRun({}, defineOp({ id: 'op', version: '1', image: 'i' }, at(0)), at(4)),
          at(4),
        );
        const bAssigned = (await store.runs.saveTransition(assign(b, { worker_id: 'w1', gpu_ids: [] }, at(5)), at(5)))
          .run;
        const bRunning = (await store.runs.saveTransition(start(bAssigned, {}, at(6)), at(6))).run;
        await store.runs.saveTransition(fail(bRunning, 'x', at(7)), at(7)); // retry due at 12
        await store.runs.saveTransition(assign(c, { worker_id: 'w2', gpu_ids: [] }, at(5)), at(5));
        const ids = async (q: Parameters<Store['runs']['listRuns']>[0]) =>
          (await store.runs.listRuns(q)).runs.map((r) => r.id);
        expect(await ids({ state: 'PENDING' })).toEqual([fromDef.run.id, a.id]);
        expect(await ids({ state: ['ASSIGNED', 'FAILED'] })).toEqual([c.id, b.id]);
        expect(await ids({ definition_id: 'op' })).toEqual([fromDef.run.id]);
        expect(await ids({ worker_id: 'w2' })).toEqual([c.id]);
        expect(await ids({ state: 'FAILED', due_before: at(11) })).toEqual([]);
        expect(await ids({ state: 'FAILED', due_before: at(12) })).toEqual([b.id]);
        expect(await ids({ state: 'COMPLETED' })).toEqual([]);
      });

      it('refuses a cursor it did not make', async () => {
        expect(await captured(store.runs.listRuns({ cursor: 'garbage!' }))).toBeInstanceOf(ValidationError);
      });

      it('refuses a cursor whose time no date can hold as a cursor it did not make', async () => {
        await insert(1);
        const cursor = (value: unknown[]) => Buffer.from(JSON.stringify(value)).toString('base64url');
        const tampered = [
          [Number.MAX_SAFE_INTEGER, 'x'],
          [-8_640_000_000_000_001, 'x'],
          [8_640_000_000_000_001, 'x'],
        ];
        for (const value of tampered) {
          const error = await captured(store.runs.listRuns({ cursor: cursor(value) }));
          expect(error).toBeInstanceOf(ValidationError);
          expect((error as ValidationError).details).toEqual([
            { field: 'cursor', message: 'is not a cursor returned by this server' },
          ]);
        }
        // The extremes of a date are still cursors: before every run, and after every run.
        expect((await store.runs.listRuns({ cursor: cursor([-8.64e15, 'run_a']) })).runs).toEqual([]);
        expect((await store.runs.listRuns({ cursor: cursor([8.64e15, 'run_a']) })).runs).toHaveLength(1);
      });

      it('lists what ASSIGNED and RUNNING runs hold on a worker', async () => {
        const c = { cpu_cores: 1, ram_mb: 10, vram_mb: 100 };
        const a = await insert(1, { constraints: c });
        const b = await insert(2, { constraints: c });
        const d = await insert(3, { constraints: c });
        await store.runs.saveTransition(assign(a, { worker_id: 'w', gpu_ids: [0] }, at(4)), at(4));
        const bAssigned = await store.runs.saveTransition(assign(b, { worker_id: 'w', gpu_ids: [1] }, at(4)), at(4));
        await store.runs.saveTransition(start(bAssigned.run, {}, at(5)), at(5));
        const dAssigned = await store.runs.saveTransition(assign(d, { worker_id: 'w', gpu_ids: [0] }, at(4)), at(4));
        await store.runs.saveTransition(cancel(dAssigned.run, at(6)), at(6));
        const reservations = await store.runs.listReservations('w');
        expect(reservations.sort((x, y) => x.run_id.localeCompare(y.run_id))).toEqual(
          [
            { run_id: a.id, cpu_cores: 1, ram_mb: 10, vram_mb: 100, gpu_ids: [0] },
            { run_id: b.id, cpu_cores: 1, ram_mb: 10, vram_mb: 100, gpu_ids: [1] },
          ].sort((x, y) => x.run_id.localeCompare(y.run_id)),
        );
        expect(await store.runs.listReservations('other')).toEqual([]);
      });

      it('counts runs by state', async () => {
        const a = await insert(1);
        await insert(2);
        await store.runs.saveTransition(cancel(a, at(3)), at(3));
        expect(await store.runs.countRunsByState()).toEqual({
          PENDING: 1,
          ASSIGNED: 0,
          RUNNING: 0,
          COMPLETED: 0,
          FAILED: 0,
          CANCELLED: 1,
        });
      });

      it('applies worker events through updateRun', async () => {
        const run = await insert(1);
        await store.runs.saveTransition(assign(run, { worker_id: 'w', gpu_ids: [] }, at(2)), at(2));
        for (const e of [
          { type: 'STARTED' },
          { type: 'PROGRESS', msg: 50 },
          { type: 'COMPLETED', payload: { outputs: { n: 1 } } },
        ] as const) {
          await updateRun(
            store.runs,
            run.id,
            (r) => applyWorkerEvent(r, e, at(3)),
            () => at(3),
          );
        }
        const done = await store.runs.getRun(run.id);
        expect(done).toMatchObject({ state: 'COMPLETED', outputs: { n: 1 }, progress: 100 });
        expect((await store.runs.listEvents(run.id)).map((e) => e.type)).toEqual([
          'CREATED',
          'ASSIGNED',
          'STARTED',
          'PROGRESS',
          'COMPLETED',
        ]);
      });
    });

    describe('workers', () => {
      it('registers on the first heartbeat and refreshes on the next', async () => {
        const first = await store.workers.heartbeat(
          heartbeat('gpu-01', { ramMb: 32000, gpus: [8192], gpuTags: [['cuda']], tags: ['gpu'] }),
          at(1),
        );
        expect(first).toStrictEqual({
          id: 'gpu-01',
          resources: { cpu_cores: 8, ram_mb: 32000, gpus: [{ id: 0, vram_mb: 8192, tags: ['cuda'] }] },
          tags: ['gpu'],
          running_ops: [],
          status: 'active',
          created_at: at(1),
          last_heartbeat_at: at(1),
        });
        const second = await store.workers.heartbeat(
          { ...heartbeat('gpu-01', { cpuCores: 4 }), running_ops: ['run_a'] },
          at(5),
        );
        expect(second).toMatchObject({ created_at: at(1), last_heartbeat_at: at(5), running_ops: ['run_a'] });
        expect(await store.workers.getWorker('gpu-01')).toStrictEqual(second);
        expect(await store.workers.getWorker('none')).toBeNull();
        await store.workers.heartbeat(heartbeat('cpu-01'), at(6));
        expect((await store.workers.listWorkers()).map((w) => w.id)).toEqual(['cpu-01', 'gpu-01']);
      });

      it('evicts only silent active workers, once, and takes them back on heartbeat', async () => {
        await store.workers.heartbeat(heartbeat('w'), at(10));
        expect(await store.workers.evictWorker('w', at(5), at(70))).toBe(false);
        const connections = [store, await connect(), await connect()];
        const results = await Promise.all(connections.map((c) => c.workers.evictWorker('w', at(11), at(71))));
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(await store.workers.getWorker('w')).toMatchObject({ status: 'evicted', evicted_at: at(71) });
        expect((await store.workers.listWorkers('evicted')).map((w) => w.id)).toEqual(['w']);
        expect(await store.workers.listWorkers('active')).toEqual([]);
        const back = await store.workers.heartbeat(heartbeat('w'), at(80));
        expect(back.status).toBe('active');
        expect(back).not.toHaveProperty('evicted_at');
        expect(back.created_at).toEqual(at(10));
        expect(await store.workers.evictWorker('missing', at(100), at(100))).toBe(false);
      });
    });

    describe('claims', () => {
      const claim = (s: Store, worker: string, limit: number, plan: ClaimPlanner = fitPlanner(), seconds = 100) =>
        s.claims.claimRuns({ worker_id: worker, limit, now: at(seconds), plan });

      it("offers a claim version that another connection's writes move and its own do not", async () => {
        const other = await connect();
        const version = (s: Store) => {
          if (!s.claims.claimVersion) throw new Error('the adapter offers no claimVersion');
          return s.claims.claimVersion();
        };
        const own = [await version(store)];
        const seen = [await version(other)];
        const step = async () => {
          own.push(await version(store));
          seen.push(await version(other));
        };
        await store.workers.heartbeat(heartbeat('w', { cpuCores: 4 }), at(0));
        await step();
        const run = await insert(1);
        await step();
        await claim(store, 'w', 1);
        await step();
        await store.runs.saveTransition(cancel((await store.runs.getRun(run.id)) as OpRun, at(2)), at(2));
        await step();
        expect(await store.workers.evictWorker('w', at(3), at(3))).toBe(true);
        await step();
        // Each kind of write moves the other connection's version, none moves the writer's own
        // (its process announces those itself, so its waiting claims need not look again).
        expect(new Set(seen).size).toBe(seen.length);
        expect(new Set(own).size).toBe(1);
        // And the other way round.
        await other.runs.createRun(newRun(4), at(4));
        expect(await version(store)).not.toBe(own[0]);
      });

      it('offers pending runs by priority, then age, with current reservations', async () => {
        await store.workers.heartbeat(heartbeat('w'), at(0));
        const low = await insert(1, { priority: 0 });
        const highOld = await insert(2, { priority: 5 });
        const highNew = await insert(3, { priority: 5 });
        const held = await insert(4, { priority: 9, constraints: { cpu_cores: 2 } });
        await store.runs.saveTransition(assign(held, { worker_id: 'w', gpu_ids: [] }, at(5)), at(5));
        const finished = await insert(5, { priority: 9 });
        await store.runs.saveTransition(cancel(finished, at(6)), at(6));
        let seen: { candidates: string[]; reservations: string[] } | undefined;
        await claim(store, 'w', 1, (ctx) => {
          seen = { candidates: ctx.candidates.map((r) => r.id), reservations: ctx.reservations.map((r) => r.run_id) };
          return [];
        });
        expect(seen).toEqual({ candidates: [highOld.id, highNew.id, low.id], reservations: [held.id] });
      });

      it('assigns the chosen runs with their GPUs and records ASSIGNED', async () => {
        await store.workers.heartbeat(heartbeat('w', { gpus: [8000, 16000] }), at(0));
        const a = await insert(1, { constraints: { vram_mb: 6000 } });
        const b = await insert(2, { constraints: { vram_mb: 6000 } });
        const claimed = await claim(store, 'w', 5, fitPlanner('best-fit'));
        expect(claimed.map((r) => [r.id, r.state, r.worker_id, r.gpu_ids])).toEqual([
          [a.id, 'ASSIGNED', 'w', [0]],
          [b.id, 'ASSIGNED', 'w', [1]],
        ]);
        const stored = await store.runs.getRun(a.id);
        expect(stored).toStrictEqual(claimed[0]);
        expect(stored?.attempts[0]).toMatchObject({ state: 'ASSIGNED', worker_id: 'w', gpu_ids: [0] });
        expect((await store.runs.listEvents(a.id)).map((e) => [e.type, e.payload])).toEqual([
          ['CREATED', { image: 'busybox:latest' }],
          ['ASSIGNED', { worker_id: 'w', gpu_ids: [0], assignment_id: stored?.assignment_id }],
        ]);
        expect(stored?.assignment_id).toMatch(/^asg_/);
        expect(stored?.assigned_at).toEqual(at(100));
        expect(await claim(store, 'w', 5)).toEqual([]);
      });

      it('never over-commits even when the planner asks for too much', async () => {
        await store.workers.heartbeat(heartbeat('w', { cpuCores: 2, ramMb: 1000, gpus: [1000] }), at(0));
        for (let i = 0; i < 4; i++) await insert(i, { constraints: { cpu_cores: 1, vram_mb: 400 } });
        const greedy: ClaimPlanner = ({ candidates }) => candidates.map((r) => ({ run_id: r.id, gpu_ids: [0] }));
        const claimed = await claim(store, 'w', 10, greedy);
        expect(claimed).toHaveLength(2);
        const worker = await store.workers.getWorker('w');
        expect(isWithinCapacity(freeCapacity(worker as never, await store.runs.listReservations('w')))).toBe(true);
      });

      it('places runs that do not touch a GPU which shrank under the run holding it', async () => {
        await store.workers.heartbeat(heartbeat('w', { cpuCores: 8, gpus: [8000, 8000] }), at(0));
        const big = await insert(1, { constraints: { vram_mb: 8000 } });
        expect((await claim(store, 'w', 1)).map((r) => r.gpu_ids)).toEqual([[0]]);
        // GPU 0 now reports 6000 MB while `big` holds 8000 of it: over-committed by the worker.
        await store.workers.heartbeat(
          { ...heartbeat('w', { cpuCores: 8, gpus: [6000, 8000] }), running_ops: [big.id] },
          at(2),
        );
        const cpuOnly = await insert(3, { constraints: { cpu_cores: 1 } });
        const onOne = await insert(4, { constraints: { vram_mb: 4000 } });
        const onZero: ClaimPlanner = ({ candidates }) => candidates.map((r) => ({ run_id: r.id, gpu_ids: [0] }));
        expect(await claim(store, 'w', 5, onZero)).toEqual([]);
        const claimed = await claim(store, 'w', 5, fitPlanner('best-fit'));
        expect(claimed.map((r) => [r.id, r.gpu_ids])).toEqual([
          [cpuOnly.id, []],
          [onOne.id, [1]],
        ]);
      });

      it('takes the next run when the first in line left PENDING after it was read, here or elsewhere', async () => {
        const other = await connect();
        for (const id of ['a', 'b', 'c']) await store.workers.heartbeat(heartbeat(id, { cpuCores: 1 }), at(0));
        const runs: OpRun[] = [];
        // More than a claim's first page (16), so a cached head of the queue may serve it.
        for (let i = 0; i < 20; i++) runs.push(await insert(1 + i, { constraints: { cpu_cores: 1 } }));
        expect((await claim(store, 'a', 1)).map((r) => r.id)).toEqual([runs[0].id]);
        await store.runs.saveTransition(cancel(runs[1], at(10)), at(10));
        expect((await claim(store, 'b', 1)).map((r) => r.id)).toEqual([runs[2].id]);
        // Another process claims the next in line after this one read the queue.
        await other.workers.heartbeat(heartbeat('d', { cpuCores: 1 }), at(11));
        expect((await claim(other, 'd', 1)).map((r) => r.id)).toEqual([runs[3].id]);
        expect((await claim(store, 'c', 1)).map((r) => r.id)).toEqual([runs[4].id]);
      });

      it('refuses unknown and evicted workers', async () => {
        await insert(1);
        expect(await captured(claim(store, 'ghost', 1))).toBeInstanceOf(NotFoundError);
        await store.workers.heartbeat(heartbeat('w'), at(0));
        await store.workers.evictWorker('w', at(50), at(60));
        expect(await captured(claim(store, 'w', 1))).toBeInstanceOf(WorkerNotActiveError);
        expect((await store.runs.listRuns({ state: 'PENDING' })).runs).toHaveLength(1);
      });

      it('hands no run out twice and over-commits nothing under concurrent claims', async () => {
        const workers = ['w0', 'w1', 'w2', 'w3'];
        for (const id of workers)
          await store.workers.heartbeat(heartbeat(id, { cpuCores: 4, ramMb: 4000, gpus: [10000, 6000] }), at(0));
        const shapes: ConstraintsInput[] = [
          { cpu_cores: 1, ram_mb: 500 },
          { cpu_cores: 0.5, ram_mb: 1000, vram_mb: 3000 },
          { cpu_cores: 2, vram_mb: 5000 },
          { ram_mb: 200, vram_mb: 2000, gpu_count: 2 },
        ];
        for (let i = 0; i < 60; i++) await insert(i, { priority: i % 3, constraints: shapes[i % shapes.length] });
        const connections = [store, await connect(), await connect(), await connect()];
        const results = await Promise.all(
          Array.from({ length: 32 }, (_, i) =>
            claim(
              connections[i % connections.length],
              workers[i % workers.length],
              3,
              fitPlanner(i % 2 ? 'best-fit' : 'direct'),
            ),
          ),
        );
        const claimedIds = results.flat().map((r) => r.id);
        expect(claimedIds.length).toBeGreaterThan(0);
        expect(new Set(claimedIds).size).toBe(claimedIds.length);
        for (const id of workers) {
          const worker = await store.workers.getWorker(id);
          const reservations = await store.runs.listReservations(id);
          expect(isWithinCapacity(freeCapacity(worker as never, reservations))).toBe(true);
        }
        const assigned = (await store.runs.listRuns({ state: 'ASSIGNED', limit: 1000 })).runs;
        expect(assigned.map((r) => r.id).sort()).toEqual([...claimedIds].sort());
        for (const run of assigned) {
          const types = (await store.runs.listEvents(run.id)).map((e) => e.type);
          expect(types).toEqual(['CREATED', 'ASSIGNED']);
        }
      });
      it("keeps each worker's held digest with the runs it holds, through claims and transitions", async () => {
        await store.workers.heartbeat(heartbeat('w', { gpus: [16000] }), at(0));
        await store.workers.heartbeat(heartbeat('v', { gpus: [16000] }), at(0));
        expect(await heldDigestOf(store.runs, 'w')).toBe(EMPTY_HELD_DIGEST);
        expect(await heldDigestOf(store.runs, 'nobody')).toBe(EMPTY_HELD_DIGEST);
        for (let i = 0; i < 6; i++) await insert(i, { constraints: { cpu_cores: 1, vram_mb: i % 2 ? 1000 : 0 } });
        const other = await connect();
        const mine = await claim(store, 'w', 4);
        const theirs = await claim(other, 'v', 2);
        expect([mine.length, theirs.length]).toEqual([4, 2]);
        expect(await heldDigestOf(other.runs, 'w')).toBe(heldRunsDigest(mine.map((r) => r.id)));
        expect(await heldDigestOf(store.runs, 'v')).toBe(heldRunsDigest(theirs.map((r) => r.id)));

        const [a, b, c, d] = mine as [OpRun, OpRun, OpRun, OpRun];
        const step = (run: OpRun, apply: (r: OpRun) => ReturnType<typeof start>) =>
          updateRun(store.runs, run.id, apply, () => at(200));
        await step(a, (r) => start(r, { worker_id: 'w' }, at(200)));
        await step(b, (r) => start(r, { worker_id: 'w' }, at(200)));
        await step(b, (r) => complete(r, {}, at(201)));
        await step(c, (r) => release(r, { worker_id: 'w' }, at(201)));
        await step(d, (r) => cancel(r, at(201)));
        expect(await heldDigestOf(store.runs, 'w')).toBe(heldRunsDigest([a.id]));
        expect(await heldDigestOf(store.runs, 'w')).toBe(heldRunsDigest(await store.runs.listHeldRunIds('w')));
        // Released to PENDING, claimed again: held again, counted once.
        expect((await claim(store, 'w', 1)).map((r) => r.id)).toEqual([c.id]);
        expect(await heldDigestOf(store.runs, 'w')).toBe(heldRunsDigest([c.id, a.id]));
      });

      it('knows which workers hold runs and which RUNNING runs are past their timeout', async () => {
        for (const id of ['w1', 'w2', 'w3']) await store.workers.heartbeat(heartbeat(id), at(0));
        await insert(1, { constraints: { timeout_seconds: 10 } });
        await insert(2, { constraints: { timeout_seconds: 30 } });
        await insert(3);
        await insert(4);
        const [timed] = (await claim(store, 'w1', 1)) as [OpRun];
        const [later, untimed] = (await claim(store, 'w2', 2)) as [OpRun, OpRun];
        expect(await holdingWorkerIdsOf(store.runs)).toEqual(['w1', 'w2']);
        const run = (r: OpRun, worker: string, seconds: number) =>
          updateRun(
            store.runs,
            r.id,
            (x) => start(x, { worker_id: worker }, at(seconds)),
            () => at(seconds),
          );
        await run(timed, 'w1', 100);
        await run(later, 'w2', 100);
        await run(untimed, 'w2', 100);
        const due = async (seconds: number) => (await timedOutRunsOf(store.runs, at(seconds))).map((r) => r.id).sort();
        expect(await due(110)).toEqual([]);
        expect(await due(111)).toEqual([timed.id]);
        expect(await due(131)).toEqual([timed.id, later.id].sort());
        const [read] = await timedOutRunsOf(store.runs, at(111));
        expect(read).toStrictEqual(await store.runs.getRun(timed.id));
        await updateRun(
          store.runs,
          timed.id,
          (r) => complete(r, {}, at(120)),
          () => at(120),
        );
        expect(await due(131)).toEqual([later.id]);
        expect(await holdingWorkerIdsOf(store.runs)).toEqual(['w2']);
        await updateRun(
          store.runs,
          later.id,
          (r) => cancel(r, at(140)),
          () => at(140),
        );
        await updateRun(
          store.runs,
          untimed.id,
          (r) => fail(r, 'x', at(140)),
          () => at(140),
        );
        expect(await holdingWorkerIdsOf(store.runs)).toEqual([]);
        expect(await due(1000)).toEqual([]);
      });

      it('reads running_ops as the held runs after a heartbeat without them, until a list comes again', async () => {
        await store.workers.heartbeat(heartbeat('w'), at(0));
        await insert(1);
        const [held] = (await claim(store, 'w', 1)) as [OpRun];
        const { running_ops: _list, ...byDigest } = heartbeat('w');
        expect((await store.workers.heartbeat(byDigest, at(200))).running_ops).toEqual([held.id]);
        expect((await store.workers.getWorker('w'))?.running_ops).toEqual([held.id]);
        expect((await store.workers.listWorkers('active')).map((w) => w.running_ops)).toEqual([[held.id]]);
        await store.workers.heartbeat({ ...heartbeat('w'), running_ops: ['run_other'] }, at(210));
        expect((await store.workers.getWorker('w'))?.running_ops).toEqual(['run_other']);
      });
    });

    describeOutboxContract(() => store, connect);

    describe('leases', () => {
      it('has one holder at a time, renews, expires and releases', async () => {
        const other = await connect();
        expect(await store.leases.acquireLease('reaper', 'p1', 10_000, at(0))).toBe(true);
        expect(await other.leases.acquireLease('reaper', 'p2', 10_000, at(5))).toBe(false);
        expect(await store.leases.acquireLease('reaper', 'p1', 10_000, at(8))).toBe(true);
        expect(await other.leases.acquireLease('reaper', 'p2', 10_000, at(15))).toBe(false);
        expect(await other.leases.acquireLease('reaper', 'p2', 10_000, at(18))).toBe(true);
        expect(await store.leases.acquireLease('reaper', 'p1', 10_000, at(19))).toBe(false);
        await store.leases.releaseLease('reaper', 'p1'); // not the holder: no effect
        expect(await store.leases.acquireLease('reaper', 'p1', 10_000, at(20))).toBe(false);
        await other.leases.releaseLease('reaper', 'p2');
        expect(await store.leases.acquireLease('reaper', 'p1', 10_000, at(21))).toBe(true);
        expect(await other.leases.acquireLease('other-lease', 'p2', 10_000, at(21))).toBe(true);
      });

      it('gives a contested expired or released lease to exactly one holder', async () => {
        const connections = [store, await connect(), await connect()];
        expect(await store.leases.acquireLease('leader', 'old', 1000, at(0))).toBe(true);
        const takeover = await Promise.all(
          connections.map((c, i) => c.leases.acquireLease('leader', `p${i}`, 10_000, at(5))),
        );
        expect(takeover.filter(Boolean)).toHaveLength(1);
        const winner = `p${takeover.indexOf(true)}`;
        await store.leases.releaseLease('leader', winner);
        const after = await Promise.all(
          connections.map((c, i) => c.leases.acquireLease('leader', `q${i}`, 10_000, at(6))),
        );
        expect(after.filter(Boolean)).toHaveLength(1);
      });

      it('gives a contested free lease to exactly one holder', async () => {
        const connections = [store, await connect(), await connect()];
        const results = await Promise.all(
          connections.map((c, i) => c.leases.acquireLease('leader', `p${i}`, 10_000, at(0))),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
      });
    });
  });
}
