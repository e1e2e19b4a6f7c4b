import { type Harness, startHarness } from '@gyoza/test-support/api-harness';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(() => h.close());

const at = (iso: string) => {
  h.now.value = new Date(iso);
};

async function createRun(priority = 0): Promise<string> {
  return (await h.api().post('/runs').send({ image: 'busybox', priority }).expect(201)).body.id;
}

async function heartbeat(id: string, gpus: { id: number; vram_mb: number }[] = []) {
  await h
    .api()
    .post('/workers/heartbeat')
    .send({ worker_id: id, resources: { cpu_cores: 8, ram_mb: 8192, gpus } })
    .expect(200);
}

describe('GET /stats', () => {
  it('counts runs per state, workers and GPUs with their VRAM', async () => {
    await createRun();
    await createRun();
    await heartbeat('w1', [
      { id: 0, vram_mb: 8000 },
      { id: 1, vram_mb: 16000 },
    ]);
    const run = (
      await h
        .api()
        .post('/runs')
        .send({ image: 'busybox', constraints: { gpu_count: 1, vram_mb: 6000 } })
    ).body.id;
    const claimed = (await h.api().post('/workers/w1/claim?limit=3').expect(200)).body.ops;
    expect(claimed.map((o: { id: string }) => o.id)).toContain(run);

    const { body } = await h.api().get('/stats').expect(200);
    expect(body.runs_by_state).toMatchObject({ PENDING: 0, ASSIGNED: 3, RUNNING: 0, COMPLETED: 0 });
    expect(body.queue_depth).toBe(0);
    expect(body.workers).toEqual({ active: 1, evicted: 0 });
    expect(body.gpus).toEqual({ total: 2, busy: 1, free: 1, vram_total_mb: 24000, vram_free_mb: 18000 });
  });

  it('needs the API key', async () => {
    await h.api().get('/stats').set('X-API-Key', 'wrong-key-0123456789').expect(401);
  });
});

describe('GET /stats/throughput', () => {
  it('buckets created, completed and failed runs by minute, oldest first', async () => {
    at('2026-03-01T10:00:10Z');
    const a = await createRun();
    at('2026-03-01T10:02:30Z');
    const b = await createRun();
    await heartbeat('w1');
    expect((await h.api().post('/workers/w1/claim?limit=2').expect(200)).body.ops).toHaveLength(2);
    const report = async (id: string, event: object) =>
      expect((await h.api().post(`/runs/${id}/events`).send(event)).ok).toBe(true);
    await report(a, { type: 'STARTED' });
    await report(a, { type: 'COMPLETED', payload: { outputs: {} } });
    at('2026-03-01T10:04:59Z');
    await report(b, { type: 'STARTED' });
    await report(b, { type: 'FAILED', payload: { error_message: 'boom' } });

    const { body } = await h.api().get('/stats/throughput?minutes=5').expect(200);
    expect(body.bucket_seconds).toBe(60);
    expect(body.buckets.map((x: { start: string }) => x.start)).toEqual([
      '2026-03-01T10:00:00.000Z',
      '2026-03-01T10:01:00.000Z',
      '2026-03-01T10:02:00.000Z',
      '2026-03-01T10:03:00.000Z',
      '2026-03-01T10:04:00.000Z',
    ]);
    const counts = body.buckets.map((x: { created: number; completed: number; failed: number }) => [
      x.created,
      x.completed,
      x.failed,
    ]);
    expect(counts).toEqual([
      [1, 0, 0],
      [0, 0, 0],
      [1, 1, 0],
      [0, 0, 0],
      [0, 0, 1],
    ]);
  });

  it('refuses a window past a day', async () => {
    const { body } = await h.api().get('/stats/throughput?minutes=1441').expect(400);
    expect(JSON.stringify(body)).toContain('minutes');
  });
});

describe('GET /search/runs', () => {
  it('pages through a creation-time range newest first, with the other filters', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      at(`2026-03-01T10:0${i}:00Z`);
      ids.push(await createRun());
    }
    const range = 'created_after=2026-03-01T10:01:00Z&created_before=2026-03-01T10:06:00Z';
    const first = (await h.api().get(`/search/runs?${range}&limit=2`).expect(200)).body;
    expect(first.runs.map((r: { id: string }) => r.id)).toEqual([ids[5], ids[4]]);
    const second = (await h.api().get(`/search/runs?${range}&limit=2&cursor=${first.next_cursor}`).expect(200)).body;
    expect(second.runs.map((r: { id: string }) => r.id)).toEqual([ids[3], ids[2]]);
    const third = (await h.api().get(`/search/runs?${range}&limit=2&cursor=${second.next_cursor}`).expect(200)).body;
    expect(third.runs.map((r: { id: string }) => r.id)).toEqual([ids[1]]);
    expect(third.next_cursor).toBeUndefined();

    // A range holding exactly a page: no cursor to an empty page (there was one before).
    const exact = (await h.api().get(`/search/runs?${range}&limit=5`).expect(200)).body;
    expect(exact.runs).toHaveLength(5);
    expect(exact.next_cursor).toBeUndefined();

    await h.api().post(`/runs/${ids[3]}/cancel`).expect(200);
    const cancelled = (await h.api().get(`/search/runs?${range}&state=CANCELLED`).expect(200)).body;
    expect(cancelled.runs.map((r: { id: string }) => r.id)).toEqual([ids[3]]);
  });

  it('names a bad time in the error', async () => {
    const { body } = await h.api().get('/search/runs?created_after=yesterday').expect(400);
    expect(JSON.stringify(body)).toContain('created_after');
    expect(JSON.stringify(body)).toContain('ISO 8601');
  });
});
