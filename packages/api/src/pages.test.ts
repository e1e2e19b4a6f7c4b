import { type Harness, startHarness } from '@gyoza/test-support/api-harness';
import { PAGE_TEXT_LIMIT } from './pages';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(() => h.close());

/** Every page of GET `path` (runs), following next_cursor; the text length of each answer. */
async function allRunPages(path: string): Promise<{ ids: string[]; sizes: number[]; counts: number[] }> {
  const ids: string[] = [];
  const sizes: number[] = [];
  const counts: number[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 100; pages++) {
    const sep = path.includes('?') ? '&' : '?';
    const answer = await h
      .api()
      .get(cursor ? `${path}${sep}cursor=${cursor}` : path)
      .expect(200);
    sizes.push(Buffer.byteLength(answer.text));
    counts.push(answer.body.runs.length);
    ids.push(...answer.body.runs.map((r: { id: string }) => r.id));
    cursor = answer.body.next_cursor;
    if (!cursor) return { ids, sizes, counts };
  }
  throw new Error('more than 100 pages');
}

describe('pages of large items end early, and every item is still reached once', () => {
  it('GET /runs and /search/runs stop a page near 4 MiB of JSON and continue from its last run', async () => {
    const blob = 'x'.repeat(240_000);
    const created: string[] = [];
    for (let i = 0; i < 24; i++) {
      created.push((await h.api().post('/runs').send({ image: 'busybox', inputs: { blob, i } }).expect(201)).body.id);
    }
    const newestFirst = [...created].reverse();
    for (const path of ['/runs?limit=1000', '/search/runs?limit=1000']) {
      const { ids, sizes, counts } = await allRunPages(path);
      expect(ids).toEqual(newestFirst);
      expect(counts.length).toBeGreaterThan(1);
      for (const size of sizes) expect(size).toBeLessThanOrEqual(PAGE_TEXT_LIMIT + 1024);
    }
  });

  it('fills small pages to the limit across read chunks, with a cursor only when more remain', async () => {
    const created: string[] = [];
    for (let i = 0; i < 251; i++) {
      created.push((await h.api().post('/runs').send({ image: 'busybox', priority: i }).expect(201)).body.id);
    }
    const first = await h.api().get('/runs?limit=250').expect(200);
    expect(first.body.runs.map((r: { id: string }) => r.id)).toEqual([...created].reverse().slice(0, 250));
    const rest = await h.api().get(`/runs?limit=250&cursor=${first.body.next_cursor}`).expect(200);
    expect(rest.body.runs.map((r: { id: string }) => r.id)).toEqual([created[0]]);
    expect(rest.body.next_cursor).toBeUndefined();
    const exact = await h.api().get('/runs?limit=251').expect(200);
    expect([exact.body.runs.length, exact.body.next_cursor]).toEqual([251, undefined]);
  });

  it('GET /runs/{id}/events stops near 4 MiB; asking after the last one shown reaches every event in order', async () => {
    const run = (await h.api().post('/runs').send({ image: 'busybox' }).expect(201)).body.id;
    await h
      .api()
      .post('/workers/heartbeat')
      .send({ worker_id: 'w1', resources: { cpu_cores: 4, ram_mb: 4096, gpus: [] } })
      .expect(200);
    await h.api().post('/workers/w1/claim').expect(200);
    // Three UTF-8 bytes a character: the limit is in bytes, as sent.
    const line = '漢'.repeat(21_000);
    for (let i = 0; i < 100; i++) {
      await h
        .api()
        .post(`/runs/${run}/events`)
        .send({ type: 'LOG', msg: `${i} ${line}` })
        .expect(200);
    }
    const indexes: number[] = [];
    const pages: number[] = [];
    let after = 0;
    for (let n = 0; n < 100; n++) {
      const answer = await h.api().get(`/runs/${run}/events?after=${after}`).expect(200);
      expect(Buffer.byteLength(answer.text)).toBeLessThanOrEqual(PAGE_TEXT_LIMIT + 1024);
      expect(answer.body.state).toBe('ASSIGNED');
      if (answer.body.events.length === 0) break;
      pages.push(answer.body.events.length);
      for (const event of answer.body.events) indexes.push(event.index);
      after = indexes[indexes.length - 1];
    }
    expect(pages.length).toBeGreaterThan(1);
    // CREATED, ASSIGNED, then the 100 LOG events.
    expect(indexes).toEqual(Array.from({ length: 102 }, (_, i) => i + 1));
  });

  it('streams every event once, in order, across read chunks', async () => {
    const run = (await h.api().post('/runs').send({ image: 'busybox' }).expect(201)).body.id;
    for (let i = 0; i < 250; i++) {
      await h
        .api()
        .post(`/runs/${run}/events`)
        .send({ type: 'LOG', msg: `line ${i}` })
        .expect(200);
    }
    await h.api().post(`/runs/${run}/cancel`).send({}).expect(200);
    const stream = await h
      .api()
      .get(`/runs/${run}/events/stream`)
      .buffer(true)
      .parse((res, done) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => done(null, text));
      });
    const ids = [...(stream.body as string).matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    // CREATED, 250 LOG lines, CANCELLED.
    expect(ids).toEqual(Array.from({ length: 252 }, (_, i) => i + 1));
  });
});
