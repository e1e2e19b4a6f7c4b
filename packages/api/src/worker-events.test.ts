import { type Harness, startHarness } from '@gyoza/test-support/api-harness';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(() => h.close());

async function claimTwo() {
  await h
    .api()
    .post('/workers/heartbeat')
    .send({ worker_id: 'w1', resources: { cpu_cores: 4, ram_mb: 4096, gpus: [] }, running_ops: [] })
    .expect(200);
  const a = (await h.api().post('/runs').send({ image: 'busybox' }).expect(201)).body;
  const b = (await h.api().post('/runs').send({ image: 'busybox' }).expect(201)).body;
  const { body } = await h.api().post('/workers/w1/claim?limit=2').expect(200);
  expect(body.ops.map((op: { id: string }) => op.id).sort()).toEqual([a.id, b.id].sort());
  return body.ops as { id: string; attempt: number; assignment_id: string }[];
}

describe('POST /workers/{id}/events', () => {
  it('applies reports for several runs in order and answers one result per report', async () => {
    const [a, b] = await claimTwo();
    const report = (op: { id: string; assignment_id: string }, type: string, extra = {}) => ({
      run_id: op.id,
      assignment_id: op.assignment_id,
      type,
      ...extra,
    });
    const { body } = await h
      .api()
      .post('/workers/w1/events')
      .send({
        events: [
          report(a, 'STARTED'),
          report(b, 'STARTED'),
          report(a, 'LOG', { msg: 'hello' }),
          report(a, 'COMPLETED', { payload: { outputs: { n: 1 } } }),
          report(b, 'PROGRESS', { msg: 40 }),
        ],
      })
      .expect(200);
    expect(body.results).toEqual([
      { run_id: a.id, status: 200, state: 'RUNNING', current_attempt: 1 },
      { run_id: b.id, status: 200, state: 'RUNNING', current_attempt: 1 },
      { run_id: a.id, status: 200, state: 'RUNNING', current_attempt: 1 },
      { run_id: a.id, status: 200, state: 'COMPLETED', current_attempt: 1 },
      { run_id: b.id, status: 200, state: 'RUNNING', current_attempt: 1 },
    ]);
    expect((await h.store.runs.getRun(a.id))?.outputs).toEqual({ n: 1 });
    expect((await h.store.runs.getRun(b.id))?.progress).toBe(40);
    const types = (await h.store.runs.listEvents(a.id)).map((e) => e.type);
    expect(types).toEqual(['CREATED', 'ASSIGNED', 'STARTED', 'LOG', 'COMPLETED']);
  });

  it('refuses a bad, stale or foreign report on its own and still applies the others', async () => {
    const [a, b] = await claimTwo();
    const { body } = await h
      .api()
      .post('/workers/w1/events')
      .send({
        events: [
          { run_id: a.id, assignment_id: a.assignment_id, type: 'PROGRESS', msg: 140 },
          { run_id: a.id, assignment_id: 'asg_0000000000000000', type: 'STARTED' },
          { run_id: b.id, assignment_id: b.assignment_id, type: 'STARTED', worker_id: 'w2' },
          { run_id: 'run_missing', type: 'STARTED' },
          { run_id: b.id, assignment_id: b.assignment_id, type: 'STARTED' },
        ],
      })
      .expect(200);
    expect(body.results.map((r: { status: number }) => r.status)).toEqual([400, 409, 400, 404, 200]);
    expect(body.results[0].error).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ field: 'msg' }] });
    expect(body.results[1].error.code).toBe('STALE_ASSIGNMENT');
    expect(body.results[3]).toMatchObject({ run_id: 'run_missing', error: { code: 'NOT_FOUND' } });
    expect((await h.store.runs.getRun(a.id))?.state).toBe('ASSIGNED');
    expect((await h.store.runs.getRun(b.id))?.state).toBe('RUNNING');
  });

  it('refuses a body that is not a list of 1 to 500 reports as a whole', async () => {
    await h.api().post('/workers/w1/events').send({ events: [] }).expect(400);
    await h
      .api()
      .post('/workers/w1/events')
      .send({ events: ['x'] })
      .expect(400);
    const many = Array.from({ length: 501 }, () => ({ run_id: 'run_x', type: 'LOG', msg: 'x' }));
    await h.api().post('/workers/w1/events').send({ events: many }).expect(400);
  });
});
