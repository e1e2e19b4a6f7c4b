import { type Harness, startHarness } from '@gyoza/test-support/api-harness';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(() => h.close());

describe('retry policy bounds at the API', () => {
  it.each([
    ['max_attempts', 1001],
    ['backoff_seconds', 604801],
    ['backoff_multiplier', 101],
    ['max_backoff_seconds', 604801],
  ])(
    'refuses %s = %p on an ad-hoc run and on a definition, naming the field, and writes nothing',
    async (field, value) => {
      const policy = { [field]: value };
      const run = await h.api().post('/runs').send({ image: 'busybox', retry_policy: policy });
      expect(run.status).toBe(400);
      expect(run.body.error.details).toEqual([expect.objectContaining({ field: `retry_policy.${field}` })]);
      const def = await h.api().post('/definitions').send({ id: 'd', version: '1', image: 'x', retry_policy: policy });
      expect(def.status).toBe(400);
      expect(def.body.error.details).toEqual([expect.objectContaining({ field: `retry_policy.${field}` })]);
      expect((await h.api().get('/runs')).body.runs).toEqual([]);
      expect((await h.api().get('/definitions')).body).toEqual([]);
    },
  );

  it('fills in the one-hour backoff cap when none is given', async () => {
    const run = await h
      .api()
      .post('/runs')
      .send({ image: 'busybox', retry_policy: { max_attempts: 100 } });
    expect(run.status).toBe(201);
    expect(run.body.retry_policy).toEqual({
      max_attempts: 100,
      backoff_seconds: 0,
      backoff_multiplier: 2,
      max_backoff_seconds: 3600,
    });
  });
});
