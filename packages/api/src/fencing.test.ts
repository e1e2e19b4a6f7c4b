import { type Harness, startHarness } from '@gyoza/test-support/api-harness';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(() => h.close());

const advance = (seconds: number) => {
  h.now.value = new Date(h.now.value.getTime() + seconds * 1000);
};

const worker = (running: string[] = [], id = 'w1') => ({
  worker_id: id,
  resources: { cpu_cores: 4, ram_mb: 4096, gpus: [] },
  running_ops: running,
});

async function heartbeat(running: string[] = [], id = 'w1') {
  advance(1);
  return (await h.api().post('/workers/heartbeat').send(worker(running, id)).expect(200)).body;
}

async function createRun() {
  const body = { image: 'busybox', retry_policy: { max_attempts: 3 } };
  return (await h.api().post('/runs').send(body).expect(201)).body;
}

async function claim(id = 'w1') {
  advance(1);
  const { body } = await h.api().post(`/workers/${id}/claim`).expect(200);
  return body.ops;
}

describe('attempt fencing', () => {
  it('hands out an assignment id with every claim and refuses reports naming an older one', async () => {
    await heartbeat();
    const run = await createRun();
    const [first] = await claim();
    expect(first).toMatchObject({ id: run.id, attempt: 1, assignment_id: expect.stringMatching(/^asg_/) });

    // The claim's answer was lost: the worker's heartbeats do not list the run, so it is taken back.
    await heartbeat();
    await heartbeat();
    const [second] = await claim();
    expect(second).toMatchObject({ id: run.id, attempt: 1 });
    expect(second.assignment_id).not.toBe(first.assignment_id);

    const before = await h.store.runs.getRun(run.id);
    const eventsBefore = await h.store.runs.listEvents(run.id);
    const stale = await h
      .api()
      .post(`/runs/${run.id}/events`)
      .send({ type: 'STARTED', attempt: 1, worker_id: 'w1', assignment_id: first.assignment_id })
      .expect(409);
    expect(stale.body.error.code).toBe('STALE_ASSIGNMENT');
    expect(stale.body.error.message).toContain('claim again');
    expect(await h.store.runs.getRun(run.id)).toEqual(before);
    expect(await h.store.runs.listEvents(run.id)).toEqual(eventsBefore);

    const current = await h
      .api()
      .post(`/runs/${run.id}/events`)
      .send({ type: 'STARTED', attempt: 1, worker_id: 'w1', assignment_id: second.assignment_id })
      .expect(200);
    expect(current.body).toMatchObject({ state: 'RUNNING', assignment_id: second.assignment_id });
  });

  it('fences LOG lines and releases too, and accepts reports that name no assignment (curl)', async () => {
    await heartbeat();
    const run = await createRun();
    const [op] = await claim();
    const wrong = 'asg_0000';
    const log = await h.api().post(`/runs/${run.id}/events`).send({ type: 'LOG', msg: 'x', assignment_id: wrong });
    expect(log.status).toBe(409);
    const release = await h.api().post(`/runs/${run.id}/release`).send({ worker_id: 'w1', assignment_id: wrong });
    expect(release.body.error.code).toBe('STALE_ASSIGNMENT');
    await h.api().post(`/runs/${run.id}/events`).send({ type: 'STARTED' }).expect(200);
    await h
      .api()
      .post(`/runs/${run.id}/events`)
      .send({ type: 'PROGRESS', msg: 50, assignment_id: op.assignment_id })
      .expect(200);
    await h.api().post(`/runs/${run.id}/events`).send({ type: 'assignment_id' }).expect(400);
    await h.api().post(`/runs/${run.id}/events`).send({ type: 'LOG', assignment_id: 'not an id' }).expect(400);
  });
});

describe('reconciliation by heartbeat', () => {
  it('takes back a RUNNING run the worker stopped listing, says why, and tells it to stop runs not its own', async () => {
    await heartbeat();
    const run = await createRun();
    const [op] = await claim();
    await h
      .api()
      .post(`/runs/${run.id}/events`)
      .send({ type: 'STARTED', worker_id: 'w1', assignment_id: op.assignment_id })
      .expect(200);
    await heartbeat([run.id]);
    const answer = await heartbeat(['run_gone']);
    expect(answer.stop_runs).toEqual(['run_gone']);
    expect(answer.free.cpu_cores).toBe(4);

    const { body } = await h.api().get(`/runs/${run.id}`).expect(200);
    expect(body).toMatchObject({ state: 'FAILED', error_message: 'worker w1 did not list the run in its heartbeat' });
    const events = (await h.api().get(`/runs/${run.id}/events`).expect(200)).body.events;
    expect(events.map((e: { type: string }) => e.type).slice(-2)).toEqual(['WORKER_LOST', 'FAILED']);

    // Its late report on the lost attempt changes nothing.
    await h
      .api()
      .post(`/runs/${run.id}/events`)
      .send({ type: 'COMPLETED', worker_id: 'w1', assignment_id: op.assignment_id, attempt: 1 })
      .expect(400);
  });
});

describe('who reports', () => {
  it('refuses a STARTED from another worker that names the owner in its payload, on both routes', async () => {
    const run = await createRun();
    await heartbeat();
    await heartbeat([], 'w2');
    expect((await claim()).map((o: { id: string }) => o.id)).toEqual([run.id]);
    const single = await h
      .api()
      .post(`/runs/${run.id}/events`)
      .send({ type: 'STARTED', worker_id: 'w2', payload: { worker_id: 'w1' } })
      .expect(400);
    expect(single.body.error.details[0].field).toBe('payload.worker_id');
    const batch = await h
      .api()
      .post('/workers/w2/events')
      .send({ events: [{ run_id: run.id, type: 'STARTED', payload: { worker_id: 'w1' } }] })
      .expect(200);
    expect(batch.body.results[0].status).toBe(400);
    expect((await h.api().get(`/runs/${run.id}`).expect(200)).body.state).toBe('ASSIGNED');
    // The owner itself may still name itself.
    await h
      .api()
      .post('/workers/w1/events')
      .send({ events: [{ run_id: run.id, type: 'STARTED', payload: { worker_id: 'w1' } }] })
      .expect(200);
    expect((await h.api().get(`/runs/${run.id}`).expect(200)).body.state).toBe('RUNNING');
  });

  it('refuses null fencing fields by name instead of reading them as a mismatch', async () => {
    const run = await createRun();
    await heartbeat();
    const [op] = await claim();
    const post = (extra: object) =>
      h
        .api()
        .post(`/runs/${run.id}/events`)
        .send({ type: 'STARTED', ...extra });
    for (const field of ['assignment_id', 'worker_id', 'attempt']) {
      const answer = await post({ [field]: null }).expect(400);
      expect(new Set(answer.body.error.details.map((d: { field: string }) => d.field))).toEqual(new Set([field]));
    }
    const release = await h.api().post(`/runs/${run.id}/release`).send({ worker_id: 'w1', attempt: null }).expect(400);
    expect(release.body.error.details[0].field).toBe('attempt');
    expect((await h.api().get(`/runs/${run.id}`).expect(200)).body.state).toBe('ASSIGNED');
    const ahead = await post({ attempt: 2, assignment_id: op.assignment_id }).expect(400);
    expect(ahead.body.error.message).toContain('attempt 2 has not begun');
    await post({ attempt: 1, assignment_id: op.assignment_id }).expect(200);
  });
});
