import { type Harness, startHarness } from '@gyoza/test-support/api-harness';

// While the worker pulls the image, the run is ASSIGNED and GET /runs/{id} says it is pulling.
let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(() => h.close());

const pulling = (percent: number) => ({
  phase: 'pulling',
  image: 'reg.local/x:1',
  done_bytes: percent * 10,
  total_bytes: 1000,
  percent,
});

async function assignedRun() {
  const beat = { worker_id: 'w1', resources: { cpu_cores: 4, ram_mb: 4096, gpus: [] } };
  await h.api().post('/workers/heartbeat').send(beat).expect(200);
  const run = (await h.api().post('/runs').send({ image: 'reg.local/x:1' }).expect(201)).body;
  const [op] = (await h.api().post('/workers/w1/claim').expect(200)).body.ops;
  return { run, op };
}

const report = (id: string, op: { assignment_id: string }, body: Record<string, unknown>) =>
  h
    .api()
    .post(`/runs/${id}/events`)
    .send({ attempt: 1, worker_id: 'w1', assignment_id: op.assignment_id, ...body })
    .expect(200);

it('shows the latest pull report of the current assignment while ASSIGNED, and nothing once STARTED', async () => {
  const { run, op } = await assignedRun();
  let shown = (await h.api().get(`/runs/${run.id}`).expect(200)).body;
  expect(shown).not.toHaveProperty('phase');

  await report(run.id, op, { type: 'INFO', msg: 'pulling reg.local/x:1 12%', payload: pulling(12) });
  await report(run.id, op, { type: 'INFO', msg: 'pulling reg.local/x:1 43%', payload: pulling(43) });
  shown = (await h.api().get(`/runs/${run.id}`).expect(200)).body;
  expect(shown).toMatchObject({
    state: 'ASSIGNED',
    phase: 'pulling',
    pull_progress: { image: 'reg.local/x:1', done_bytes: 430, total_bytes: 1000, percent: 43 },
  });
  // Other INFO lines do not touch it.
  await report(run.id, op, { type: 'INFO', msg: 'hello', payload: { note: 1 } });
  expect((await h.api().get(`/runs/${run.id}`).expect(200)).body.pull_progress.percent).toBe(43);

  await report(run.id, op, { type: 'STARTED' });
  shown = (await h.api().get(`/runs/${run.id}`).expect(200)).body;
  expect(shown.state).toBe('RUNNING');
  expect(shown).not.toHaveProperty('phase');
  expect(shown).not.toHaveProperty('pull_progress');
});

it('forgets a pull of an earlier assignment once the run is handed back and claimed again', async () => {
  const { run, op } = await assignedRun();
  await report(run.id, op, { type: 'INFO', payload: pulling(50) });
  await h
    .api()
    .post(`/runs/${run.id}/release`)
    .send({ worker_id: 'w1', attempt: 1, assignment_id: op.assignment_id, reason: 'stopping' })
    .expect(200);
  const pending = (await h.api().get(`/runs/${run.id}`).expect(200)).body;
  expect(pending.state).toBe('PENDING');
  expect(pending).not.toHaveProperty('pull_progress');
  await h.api().post('/workers/w1/claim').expect(200);
  const again = (await h.api().get(`/runs/${run.id}`).expect(200)).body;
  expect(again.state).toBe('ASSIGNED');
  expect(again).not.toHaveProperty('pull_progress');
});

it('keeps the images a worker heartbeat lists, bounded, until a heartbeat lists others', async () => {
  const beat = (images?: string[]) => ({
    worker_id: 'w-img',
    resources: { cpu_cores: 1, ram_mb: 512, gpus: [] },
    ...(images ? { images } : {}),
  });
  const first = (
    await h
      .api()
      .post('/workers/heartbeat')
      .send(beat(['reg/x:1', 'reg/x@sha256:ab']))
      .expect(200)
  ).body;
  expect(first.images).toEqual(['reg/x:1', 'reg/x@sha256:ab']);
  await h.api().post('/workers/heartbeat').send(beat()).expect(200);
  const [listed] = (await h.api().get('/workers').expect(200)).body;
  expect(listed.images).toEqual(['reg/x:1', 'reg/x@sha256:ab']);
  const many = Array.from({ length: 201 }, (_, i) => `reg/x:${i}`);
  const refused = await h.api().post('/workers/heartbeat').send(beat(many)).expect(400);
  expect(JSON.stringify(refused.body)).toContain('images');
});
