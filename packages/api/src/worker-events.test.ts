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

  it("applies one run's reports together: one write, each its own result, a refused one leaves the run as before it", async () => {
    const [a, b] = await claimTwo();
    const revBefore = (await h.store.runs.getRun(a.id))?.rev as number;
    const { body } = await h
      .api()
      .post('/workers/w1/events')
      .send({
        events: [
          { run_id: a.id, assignment_id: a.assignment_id, type: 'STARTED' },
          { run_id: b.id, assignment_id: b.assignment_id, type: 'STARTED' },
          { run_id: a.id, assignment_id: 'asg_0000000000000000', type: 'COMPLETED' },
          { run_id: a.id, assignment_id: a.assignment_id, type: 'PROGRESS', msg: 50 },
          { run_id: b.id, assignment_id: b.assignment_id, type: 'COMPLETED', payload: { outputs: { n: 2 } } },
          { run_id: a.id, assignment_id: a.assignment_id, type: 'STARTED' },
        ],
      })
      .expect(200);
    expect(body.results.map((r: { status: number; state?: string }) => [r.status, r.state])).toEqual([
      [200, 'RUNNING'],
      [200, 'RUNNING'],
      [409, undefined],
      [200, 'RUNNING'],
      [200, 'COMPLETED'],
      [409, undefined],
    ]);
    expect(body.results[2].error.code).toBe('STALE_ASSIGNMENT');
    const run = await h.store.runs.getRun(a.id);
    expect(run).toMatchObject({ state: 'RUNNING', progress: 50 });
    // Read and written once for its three reports.
    expect(run?.rev).toBe(revBefore + 1);
    expect((await h.store.runs.listEvents(a.id)).map((e) => e.type)).toEqual([
      'CREATED',
      'ASSIGNED',
      'STARTED',
      'PROGRESS',
    ]);
    expect(await h.store.runs.getRun(b.id)).toMatchObject({ state: 'COMPLETED', outputs: { n: 2 } });
  });

  it("applies a run's reports one by one when it has a webhook, so each delivery carries the run as its event left it", async () => {
    await h
      .api()
      .post('/workers/heartbeat')
      .send({ worker_id: 'w1', resources: { cpu_cores: 4, ram_mb: 4096, gpus: [] }, running_ops: [] })
      .expect(200);
    const created = await h
      .api()
      .post('/runs')
      .send({ image: 'busybox', event_delivery: { webhook_url: 'https://hooks.example/gyoza' } })
      .expect(201);
    const [op] = (await h.api().post('/workers/w1/claim').expect(200)).body.ops;
    expect(op.id).toBe(created.body.id);
    const { body } = await h
      .api()
      .post('/workers/w1/events')
      .send({
        events: [
          { run_id: op.id, assignment_id: op.assignment_id, type: 'STARTED' },
          { run_id: op.id, assignment_id: op.assignment_id, type: 'COMPLETED' },
        ],
      })
      .expect(200);
    expect(body.results.map((r: { state: string }) => r.state)).toEqual(['RUNNING', 'COMPLETED']);
    const deliveries = await h.store.deliveries.listDeliveries({ run_id: op.id });
    const states = deliveries
      .filter((d) => d.event_type === 'STARTED' || d.event_type === 'COMPLETED')
      .map((d) => [d.event_type, JSON.parse(d.body).data.state]);
    expect(states).toEqual([
      ['STARTED', 'RUNNING'],
      ['COMPLETED', 'COMPLETED'],
    ]);
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
