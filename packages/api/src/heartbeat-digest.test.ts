import { EMPTY_HELD_DIGEST, heldRunsDigest } from '@gyoza/domain';
import { type Harness, startHarness } from '@gyoza/test-support/api-harness';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(() => h.close());

const resources = { cpu_cores: 4, ram_mb: 4096, gpus: [] };
const byList = (running_ops: string[]) => ({ worker_id: 'w1', resources, running_ops });
const byDigest = (ids: string[]) => ({ worker_id: 'w1', resources, held_digest: heldRunsDigest(ids) });

async function claimTwo(): Promise<string[]> {
  await h.api().post('/workers/heartbeat').send(byList([])).expect(200);
  for (let i = 0; i < 2; i++) await h.api().post('/runs').send({ image: 'busybox' }).expect(201);
  const { body } = await h.api().post('/workers/w1/claim?limit=2').expect(200);
  return body.ops.map((op: { id: string }) => op.id);
}

describe('heartbeats with a held digest', () => {
  it('answers the server’s digest to every heartbeat, and running_ops_wanted false to a list', async () => {
    const first = await h.api().post('/workers/heartbeat').send(byList([])).expect(200);
    expect(first.body).toMatchObject({ held_digest: EMPTY_HELD_DIGEST, running_ops_wanted: false });
    const ids = await claimTwo();
    const listed = await h.api().post('/workers/heartbeat').send(byList(ids)).expect(200);
    expect(listed.body).toMatchObject({ held_digest: heldRunsDigest(ids), running_ops_wanted: false, stop_runs: [] });
    expect(listed.body.running_ops).toEqual(ids);
  });

  it('takes a matching digest for the list: nothing taken back, GET /workers lists the held runs', async () => {
    const ids = await claimTwo();
    await h.api().post('/workers/heartbeat').send(byList(ids)).expect(200);
    for (let i = 0; i < 2; i++) {
      h.now.value = new Date(h.now.value.getTime() + 5000);
      const { body } = await h
        .api()
        .post('/workers/heartbeat')
        .send(byDigest([...ids].reverse()))
        .expect(200);
      expect(body).toMatchObject({ held_digest: heldRunsDigest(ids), running_ops_wanted: false, stop_runs: [] });
      // The ids are not read for the answer: it costs the same with thousands held.
      expect(body).not.toHaveProperty('running_ops');
      expect(body.free).toMatchObject({ cpu_cores: 4, ram_mb: 4096 });
    }
    const workers = (await h.api().get('/workers').expect(200)).body;
    expect(workers[0].running_ops.sort()).toEqual([...ids].sort());
    for (const id of ids) expect((await h.api().get(`/runs/${id}`).expect(200)).body.state).toBe('ASSIGNED');
  });

  it('asks for the list when the digests differ, takes nothing back on it, and settles on the list', async () => {
    const [kept, dropped] = (await claimTwo()) as [string, string];
    await h
      .api()
      .post('/workers/heartbeat')
      .send(byList([kept, dropped]))
      .expect(200);
    h.now.value = new Date(h.now.value.getTime() + 5000);
    const differing = await h
      .api()
      .post('/workers/heartbeat')
      .send(byDigest([kept]))
      .expect(200);
    expect(differing.body).toMatchObject({ running_ops_wanted: true, stop_runs: [] });
    expect((await h.api().get(`/runs/${dropped}`).expect(200)).body.state).toBe('ASSIGNED');

    h.now.value = new Date(h.now.value.getTime() + 5000);
    const listed = await h
      .api()
      .post('/workers/heartbeat')
      .send(byList([kept]))
      .expect(200);
    expect(listed.body).toMatchObject({ held_digest: heldRunsDigest([kept]), running_ops_wanted: false });
    expect((await h.api().get(`/runs/${dropped}`).expect(200)).body.state).toBe('PENDING');
  });

  it('refuses a malformed digest naming the field and changes nothing', async () => {
    await h.api().post('/workers/heartbeat').send(byList([])).expect(200);
    const before = await h.store.workers.getWorker('w1');
    for (const held_digest of ['1:abc', '01:0000000000000000', '1:000000000000000G', 7, '']) {
      const { body } = await h
        .api()
        .post('/workers/heartbeat')
        .send({ worker_id: 'w1', resources: { ...resources, cpu_cores: 1 }, held_digest })
        .expect(400);
      expect(new Set(body.error.details.map((d: { field: string }) => d.field))).toEqual(new Set(['held_digest']));
    }
    expect(await h.store.workers.getWorker('w1')).toEqual(before);
  });
});
