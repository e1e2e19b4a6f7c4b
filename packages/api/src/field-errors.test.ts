import { type Harness, startHarness } from '@gyoza/test-support/api-harness';

// Bad input gets a 400 naming the field it is about, and changes nothing: not a 404 about
// something that exists, not a 200 that ignored the field, not another field's name.

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(() => h.close());

const fieldsOf = (body: { error: { details: { field: string }[] } }) => body.error.details.map((d) => d.field);

/** Runs and definitions: what a refused request must leave as it was. */
async function stored() {
  return {
    runs: (await h.store.runs.listRuns({ limit: 1000 })).runs,
    definitions: await h.store.definitions.listDefinitions(),
  };
}

describe('webhook secrets', () => {
  const webhook = (secret: string) => ({ webhook_url: 'http://127.0.0.1:9/hook', secret });

  it.each([
    ['whsec_', 'nothing after the prefix'],
    ['whsec_!!!!', 'not base64'],
    [`whsec_${Buffer.alloc(15, 7).toString('base64')}`, '15 bytes'],
  ])('refuses %j (%s) naming event_delivery.secret, on a run and a definition, storing nothing', async (secret) => {
    const before = await stored();
    const run = await h
      .api()
      .post('/runs')
      .send({ image: 'busybox', event_delivery: webhook(secret) })
      .expect(400);
    expect(fieldsOf(run.body)).toEqual(['event_delivery.secret']);
    const definition = await h
      .api()
      .post('/definitions')
      .send({ id: 'd1', version: '1', image: 'busybox', event_delivery: webhook(secret) })
      .expect(400);
    expect(fieldsOf(definition.body)).toEqual(['event_delivery.secret']);
    expect(await stored()).toEqual(before);
  });

  it('takes a whsec_ secret of 16 bytes or more, and a plain secret of any length', async () => {
    for (const secret of [
      'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      `whsec_${Buffer.alloc(16, 7).toString('base64')}`,
      'x',
    ]) {
      await h
        .api()
        .post('/runs')
        .send({ image: 'busybox', event_delivery: webhook(secret) })
        .expect(201);
    }
  });
});

describe('POST /runs with a definition_id', () => {
  it('names each field the definition gives that was sent too', async () => {
    await h.api().post('/definitions').send({ id: 'd1', version: '1', image: 'busybox' }).expect(200);
    const before = await stored();
    const policy = { max_attempts: 2 };
    const delivery = { webhook_url: 'http://127.0.0.1:9/hook' };
    const cases: [Record<string, unknown>, string[]][] = [
      [{ retry_policy: policy }, ['retry_policy']],
      [{ event_delivery: delivery }, ['event_delivery']],
      [{ image: 'x' }, ['image']],
      [{ image: 'x', retry_policy: policy, event_delivery: delivery }, ['image', 'retry_policy', 'event_delivery']],
    ];
    for (const [extra, fields] of cases) {
      const { body } = await h
        .api()
        .post('/runs')
        .send({ definition_id: 'd1', ...extra })
        .expect(400);
      expect(fieldsOf(body)).toEqual(fields);
    }
    expect(await stored()).toEqual(before);
  });
});

describe('definition ids and versions', () => {
  beforeEach(async () => {
    await h.api().post('/definitions').send({ id: 'd1', version: '1', image: 'busybox' }).expect(200);
  });

  it.each([
    ['GET', '/definitions/d1?version=', 'version'],
    ['GET', '/definitions/d1?version=1%20', 'version'],
    ['DELETE', '/definitions/d1?version=', 'version'],
    ['POST', '/definitions/d1/runs?version=', 'version'],
  ])('%s %s answers 400 naming %s, not 404', async (method, path, field) => {
    const before = await stored();
    const agent = h.api();
    const call = method === 'GET' ? agent.get(path) : method === 'DELETE' ? agent.delete(path) : agent.post(path);
    const { body } = await call.expect(400);
    expect(fieldsOf(body)).toEqual([field]);
    expect(await stored()).toEqual(before);
  });

  it.each([
    [{ definition_id: 'd1', version: '' }, 'version'],
    [{ definition_id: 'd1', version: '-1' }, 'version'],
    [{ definition_id: 'D1!' }, 'definition_id'],
    [{ definition_id: '' }, 'definition_id'],
  ])('POST /runs %j answers 400 naming %s, not 404', async (request, field) => {
    const before = await stored();
    const { body } = await h.api().post('/runs').send(request).expect(400);
    expect(fieldsOf(body)).toEqual([field]);
    expect(await stored()).toEqual(before);
  });
});

describe('state filters', () => {
  it.each(['/runs?state=', '/runs?state=,,', '/runs?state=&state=', '/search/runs?state=', '/search/runs?state=,'])(
    'GET %s answers 400 naming state, as an empty status list does',
    async (path) => {
      await h.api().post('/runs').send({ image: 'busybox' }).expect(201);
      expect(fieldsOf((await h.api().get('/deliveries?status=').expect(400)).body)).toEqual(['status']);
      expect(fieldsOf((await h.api().get(path).expect(400)).body)).toEqual(['state']);
    },
  );
});
