import {
  backoffSeconds,
  compareNewestFirst,
  createRun,
  defineOp,
  hasAttemptsLeft,
  latestVersion,
  normalizeConstraints,
  normalizeEventDelivery,
  normalizeRetryPolicy,
  RUN_ID_PATTERN,
  ValidationError,
} from './index';

const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));

function details(fn: () => unknown) {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).details?.map((d) => d.field);
  }
  throw new Error('expected a ValidationError');
}

describe('defineOp', () => {
  const input = { id: 'resize.v2_img-x', version: '1.0.0', image: 'reg.local/resize:1' };

  it('fills defaults', () => {
    const def = defineOp(input, t(1));
    expect(def).toMatchObject({
      input_specs: {},
      output_specs: {},
      retry_policy: { max_attempts: 1, backoff_seconds: 0, backoff_multiplier: 2 },
      event_delivery: {},
      created_at: t(1),
      updated_at: t(1),
    });
    expect(def.constraints.gpu_count).toBe(0);
  });

  it('keeps created_at when replacing the same id and version', () => {
    const first = defineOp(input, t(1));
    const again = defineOp({ ...input, image: 'reg.local/resize:2' }, t(9), first);
    expect(again.created_at).toEqual(t(1));
    expect(again.updated_at).toEqual(t(9));
  });

  it('names every bad field at once', () => {
    expect(
      details(() =>
        defineOp({ id: 'Bad Id', version: '', image: 'has space', constraints: { ram_mb: -1 } } as never, t(1)),
      ),
    ).toEqual(['id', 'version', 'image', 'constraints.ram_mb']);
  });

  it.each(['a', '0op', 'a.b-c_d', 'x'.repeat(128)])('accepts id %s', (id) => {
    expect(defineOp({ ...input, id }, t(1)).id).toBe(id);
  });

  it.each(['', 'A', '-a', '.a', 'a/b', 'x'.repeat(129)])('refuses id %p', (id) => {
    expect(details(() => defineOp({ ...input, id }, t(1)))).toEqual(['id']);
  });
});

describe('latest version', () => {
  it('is the most recently created, ties broken by version', () => {
    const v1 = defineOp({ id: 'op', version: '1', image: 'i' }, t(1));
    const v3 = defineOp({ id: 'op', version: '3', image: 'i' }, t(2));
    const v2 = defineOp({ id: 'op', version: '2', image: 'i' }, t(3));
    expect(latestVersion([v1, v3, v2])?.version).toBe('2');
    const tie = defineOp({ id: 'op', version: '9', image: 'i' }, t(3));
    expect([v2, tie].sort(compareNewestFirst)[0].version).toBe('9');
    expect(latestVersion([])).toBeUndefined();
  });
});

describe('retry policy', () => {
  const policy = normalizeRetryPolicy({
    max_attempts: 5,
    backoff_seconds: 2,
    backoff_multiplier: 3,
    max_backoff_seconds: 30,
  });

  it('grows the backoff by the multiplier up to the cap', () => {
    expect([1, 2, 3, 4].map((n) => backoffSeconds(policy, n))).toEqual([2, 6, 18, 30]);
  });

  it('counts attempts left', () => {
    expect(hasAttemptsLeft(policy, 4)).toBe(true);
    expect(hasAttemptsLeft(policy, 5)).toBe(false);
  });

  it('refuses bad values by field', () => {
    expect(details(() => normalizeRetryPolicy({ max_attempts: 0, backoff_multiplier: 0.5 }))).toEqual([
      'retry_policy.max_attempts',
      'retry_policy.backoff_multiplier',
    ]);
  });
});

describe('constraints', () => {
  it('defaults gpu_count to 1 when VRAM is asked for', () => {
    expect(normalizeConstraints({ vram_mb: 4000 }).gpu_count).toBe(1);
    expect(normalizeConstraints({ vram_mb: 4000, gpu_count: 2 }).gpu_count).toBe(2);
    expect(normalizeConstraints({}).gpu_count).toBe(0);
  });

  it('refuses bad values by field', () => {
    expect(
      details(() => normalizeConstraints({ cpu_cores: -1, ram_mb: 1.5, vram_mb: 10, gpu_count: 0, gpu_tags: [''] })),
    ).toEqual(['constraints.gpu_count', 'constraints.cpu_cores', 'constraints.ram_mb', 'constraints.gpu_tags']);
  });
});

describe('event delivery', () => {
  it('accepts an http(s) webhook and refuses others', () => {
    expect(normalizeEventDelivery({ webhook_url: 'https://hooks.local/x', secret: 's' })).toEqual({
      webhook_url: 'https://hooks.local/x',
      secret: 's',
    });
    expect(details(() => normalizeEventDelivery({ webhook_url: 'ftp://x' }))).toEqual(['event_delivery.webhook_url']);
  });
});

describe('createRun', () => {
  const def = defineOp(
    {
      id: 'gen',
      version: '2',
      image: 'gen:2',
      input_specs: { prompt: { type: 'string' }, steps: { type: 'integer', default: 10 } },
      constraints: { cpu_cores: 2, vram_mb: 8000, gpu_tags: ['a100'] },
      retry_policy: { max_attempts: 3 },
      event_delivery: { webhook_url: 'http://127.0.0.1:9/hook' },
    },
    t(0),
  );

  it('copies the definition and applies overrides', () => {
    const { run, events } = createRun(
      { inputs: { prompt: 'cat' }, priority: 5, constraints: { ram_mb: 512 } },
      def,
      t(1),
    );
    expect(run).toMatchObject({
      definition_id: 'gen',
      definition_version: '2',
      image: 'gen:2',
      inputs: { prompt: 'cat', steps: 10 },
      priority: 5,
      constraints: { cpu_cores: 2, ram_mb: 512, vram_mb: 8000, gpu_count: 1, gpu_tags: ['a100'] },
      retry_policy: { max_attempts: 3 },
      event_delivery: { webhook_url: 'http://127.0.0.1:9/hook' },
      state: 'PENDING',
      current_attempt: 1,
      progress: 0,
    });
    expect(run.attempts).toEqual([
      { attempt: 1, state: 'PENDING', gpu_ids: [], progress: 0, outputs: {}, created_at: t(1) },
    ]);
    expect(events).toEqual([
      { attempt: 1, type: 'CREATED', payload: { image: 'gen:2', definition_id: 'gen', definition_version: '2' } },
    ]);
    expect(run.id).toMatch(RUN_ID_PATTERN);
  });

  it('validates inputs against the definition', () => {
    expect(details(() => createRun({ inputs: { steps: 'x' } }, def, t(1)))).toEqual(['inputs.prompt', 'inputs.steps']);
  });

  it('builds an ad-hoc run from an image', () => {
    const { run } = createRun({ image: 'busybox', inputs: { a: 1 }, retry_policy: { max_attempts: 2 } }, null, t(1));
    expect(run).toMatchObject({ image: 'busybox', inputs: { a: 1 }, retry_policy: { max_attempts: 2 } });
    expect(run).not.toHaveProperty('definition_id');
    expect(details(() => createRun({ inputs: {} }, null, t(1)))).toEqual(['image']);
    expect(details(() => createRun({ image: 'x', priority: 1.5 }, null, t(1)))).toEqual(['priority']);
  });
});
