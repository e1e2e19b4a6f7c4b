import { createRun, currentAttempt, defineOp, isFinished, newRunId, RUN_ID_PATTERN, ValidationError } from './index';

const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));

function fields(fn: () => unknown) {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).details?.map((d) => d.field);
  }
  throw new Error('expected a ValidationError');
}

const def = defineOp(
  {
    id: 'gen',
    version: '2',
    image: 'gen:2',
    input_specs: { prompt: { type: 'string' }, steps: { type: 'integer', default: 10 } },
    constraints: { cpu_cores: 2, vram_mb: 8000, gpu_tags: ['a100'], timeout_seconds: 600 },
    retry_policy: { max_attempts: 3, backoff_seconds: 5 },
    event_delivery: { webhook_url: 'http://127.0.0.1:9/hook', event_types: ['COMPLETED'], secret: 's' },
  },
  t(0),
);

describe('run ids', () => {
  it('newRunId matches RUN_ID_PATTERN and does not repeat', () => {
    // More than one draw of the random pool (256 ids).
    const ids = Array.from({ length: 600 }, () => newRunId());
    for (const id of ids) expect(id).toMatch(RUN_ID_PATTERN);
    expect(new Set(ids).size).toBe(600);
    expect(new Set(ids.map((id) => id.slice(-24))).size).toBe(600);
  });

  it('newRunId sorts by the millisecond it was made in, with 96 random bits after it', () => {
    const earlier = newRunId(Date.parse('2026-03-01T00:00:00.000Z'));
    const later = newRunId(Date.parse('2026-03-01T00:00:00.001Z'));
    expect(earlier < later).toBe(true);
    expect(earlier).toMatch(/^run_[0-9a-f]{36}$/);
    expect(earlier.slice(0, 16)).toBe(`run_${Date.parse('2026-03-01T00:00:00.000Z').toString(16).padStart(12, '0')}`);
  });

  it.each(['run_a', `run_${'a'.repeat(64)}`, 'run_0AbC'])('%s matches', (id) => {
    expect(RUN_ID_PATTERN.test(id)).toBe(true);
  });

  it.each(['run_', 'a', 'run-a', 'RUN_a', 'run_a-b', `run_${'a'.repeat(65)}`, ' run_a'])('%p does not', (id) => {
    expect(RUN_ID_PATTERN.test(id)).toBe(false);
  });
});

describe('createRun from a definition', () => {
  it('copies image, constraints, retry policy and event delivery, and fills inputs', () => {
    const { run, events } = createRun({ inputs: { prompt: 'cat' } }, def, t(1), 'run_x');
    expect(run).toEqual({
      id: 'run_x',
      definition_id: 'gen',
      definition_version: '2',
      image: 'gen:2',
      inputs: { prompt: 'cat', steps: 10 },
      outputs: {},
      priority: 0,
      constraints: def.constraints,
      retry_policy: def.retry_policy,
      event_delivery: def.event_delivery,
      state: 'PENDING',
      progress: 0,
      current_attempt: 1,
      gpu_ids: [],
      created_at: t(1),
      updated_at: t(1),
      attempts: [{ attempt: 1, state: 'PENDING', gpu_ids: [], progress: 0, outputs: {}, created_at: t(1) }],
      rev: 0,
    });
    expect(events).toEqual([
      { attempt: 1, type: 'CREATED', payload: { image: 'gen:2', definition_id: 'gen', definition_version: '2' } },
    ]);
  });

  it('shares no object with the definition', () => {
    const { run } = createRun({ inputs: { prompt: 'cat' } }, def, t(1));
    expect(run.constraints).not.toBe(def.constraints);
    expect(run.constraints.gpu_tags).not.toBe(def.constraints.gpu_tags);
    expect(run.retry_policy).not.toBe(def.retry_policy);
    expect(run.event_delivery).not.toBe(def.event_delivery);
    expect(run.event_delivery.event_types).not.toBe(def.event_delivery.event_types);
  });

  it('lets the request override priority and constraints only', () => {
    const { run } = createRun(
      {
        inputs: { prompt: 'cat', steps: 3 },
        priority: -5,
        constraints: { ram_mb: 512, vram_mb: 4000 },
        image: 'other:1',
        retry_policy: { max_attempts: 9 },
      },
      def,
      t(1),
    );
    expect(run).toMatchObject({
      image: 'gen:2',
      inputs: { prompt: 'cat', steps: 3 },
      priority: -5,
      constraints: { cpu_cores: 2, ram_mb: 512, vram_mb: 4000, gpu_count: 1, gpu_tags: ['a100'], timeout_seconds: 600 },
      retry_policy: { max_attempts: 3, backoff_seconds: 5 },
    });
    expect(def.constraints.ram_mb).toBe(0);
  });

  it('validates inputs against input_specs, naming each field', () => {
    expect(fields(() => createRun({ inputs: { steps: 'x', extra: 1 } }, def, t(1)))).toEqual([
      'inputs.extra',
      'inputs.prompt',
      'inputs.steps',
    ]);
  });

  it('validates the overrides', () => {
    expect(fields(() => createRun({ inputs: { prompt: 'a' }, priority: 1.5 }, def, t(1)))).toEqual(['priority']);
    expect(fields(() => createRun({ inputs: { prompt: 'a' }, constraints: { ram_mb: -1 } }, def, t(1)))).toEqual([
      'constraints.ram_mb',
    ]);
  });
});

describe('createRun ad hoc', () => {
  it('builds a run from an image, normalizing its own parts', () => {
    const { run, events } = createRun(
      {
        image: 'busybox',
        inputs: { anything: [1] },
        priority: 3,
        constraints: { vram_mb: 1000 },
        retry_policy: { max_attempts: 2 },
        event_delivery: { webhook_url: 'https://hooks.local/x' },
        idempotency_key: 'k-1',
      },
      null,
      t(1),
    );
    expect(run).toMatchObject({
      image: 'busybox',
      inputs: { anything: [1] },
      priority: 3,
      constraints: { vram_mb: 1000, gpu_count: 1 },
      retry_policy: { max_attempts: 2, backoff_seconds: 0, backoff_multiplier: 2 },
      event_delivery: { webhook_url: 'https://hooks.local/x' },
      idempotency_key: 'k-1',
    });
    expect(run.id).toMatch(RUN_ID_PATTERN);
    expect(run).not.toHaveProperty('definition_id');
    expect(run).not.toHaveProperty('definition_version');
    expect(events).toEqual([{ attempt: 1, type: 'CREATED', payload: { image: 'busybox' } }]);
  });

  it.each([
    [{}, 'image'],
    [{ image: 'a b' }, 'image'],
    [{ image: 'x', priority: 'high' }, 'priority'],
    [{ image: 'x', inputs: [] }, 'inputs'],
    [{ image: 'x', constraints: { gpu_tags: 'a' } }, 'constraints.gpu_tags'],
    [{ image: 'x', retry_policy: { max_attempts: 0 } }, 'retry_policy.max_attempts'],
    [{ image: 'x', event_delivery: { webhook_url: 'nope' } }, 'event_delivery.webhook_url'],
  ])('%j is refused at %s', (input, field) => {
    expect(fields(() => createRun(input as never, null, t(1)))).toEqual([field]);
  });
});

describe('image pull policy', () => {
  const pinned = defineOp({ id: 'p', version: '1', image: 'p:1', image_pull_policy: 'always' }, t(0));

  it('is absent unless asked for, so the worker default applies', () => {
    expect(createRun({ image: 'x' }, null, t(1)).run.image_pull_policy).toBeUndefined();
    expect(createRun({ inputs: { prompt: 'p' } }, def, t(1)).run.image_pull_policy).toBeUndefined();
  });

  it('is copied from the definition, and a request may name its own', () => {
    expect(pinned.image_pull_policy).toBe('always');
    expect(createRun({}, pinned, t(1)).run.image_pull_policy).toBe('always');
    expect(createRun({ image_pull_policy: 'never' }, pinned, t(1)).run.image_pull_policy).toBe('never');
    expect(createRun({ image: 'x', image_pull_policy: 'if-not-present' }, null, t(1)).run.image_pull_policy).toBe(
      'if-not-present',
    );
  });

  it('refuses a policy it does not know, naming the field', () => {
    expect(fields(() => createRun({ image: 'x', image_pull_policy: 'sometimes' as never }, null, t(1)))).toEqual([
      'image_pull_policy',
    ]);
    expect(
      fields(() => defineOp({ id: 'p', version: '1', image: 'p', image_pull_policy: 'no' as never }, t(0))),
    ).toEqual(['image_pull_policy']);
  });
});

describe('run helpers', () => {
  it('currentAttempt finds the attempt in use', () => {
    const { run } = createRun({ image: 'x' }, null, t(1));
    expect(currentAttempt(run)).toBe(run.attempts[0]);
    expect(() => currentAttempt({ ...run, current_attempt: 2 })).toThrow('has no attempt 2');
  });

  it.each([
    ['PENDING', false],
    ['ASSIGNED', false],
    ['RUNNING', false],
    ['COMPLETED', true],
    ['FAILED', true],
    ['CANCELLED', true],
  ] as const)('%s is finished: %p', (state, finished) => {
    expect(isFinished(state)).toBe(finished);
  });
});
