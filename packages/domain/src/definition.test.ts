import {
  compareNewestFirst,
  DEFINITION_ID_PATTERN,
  defineOp,
  latestVersion,
  type OpDefinitionInput,
  ValidationError,
  VERSION_PATTERN,
  validateDefinitionId,
  validateImage,
  validateVersion,
} from './index';

const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));

function fields(fn: () => unknown) {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).code).toBe('VALIDATION_FAILED');
    return (error as ValidationError).details?.map((d) => d.field);
  }
  throw new Error('expected a ValidationError');
}

describe('ids, versions and images', () => {
  it.each(['a', '0op', 'a.b-c_d', 'resize.v2_img-x', 'x'.repeat(128)])('id %s is accepted', (id) => {
    expect(DEFINITION_ID_PATTERN.test(id)).toBe(true);
    expect(validateDefinitionId(id)).toBe(id);
  });

  it.each(['', 'A', 'Op', '-a', '.a', '_a', 'a/b', 'a b', 'a:b', 'x'.repeat(129), 7, null])(
    'id %p is refused',
    (id) => {
      expect(fields(() => validateDefinitionId(id))).toEqual(['id']);
    },
  );

  it.each(['1', '1.0.0', 'v2', '2.0.0-rc.1', '1.0+build.5', 'Latest_x', 'x'.repeat(128)])(
    'version %s is accepted',
    (version) => {
      expect(VERSION_PATTERN.test(version)).toBe(true);
      expect(validateVersion(version)).toBe(version);
    },
  );

  it.each(['', '.1', '-1', '1 0', '1/2', 'x'.repeat(129), 1])('version %p is refused', (version) => {
    expect(fields(() => validateVersion(version))).toEqual(['version']);
  });

  it.each(['busybox', 'reg.local:5000/team/resize:1.2', 'img@sha256:abc'])('image %s is accepted', (image) => {
    expect(validateImage(image)).toBe(image);
  });

  it.each(['', '   ', 'has space', 'tab\there', 'x'.repeat(513), 3])('image %p is refused', (image) => {
    expect(fields(() => validateImage(image))).toEqual(['image']);
  });
});

describe('defineOp', () => {
  const input: OpDefinitionInput = { id: 'resize', version: '1.0.0', image: 'reg.local/resize:1' };

  it('fills defaults', () => {
    expect(defineOp(input, t(1))).toEqual({
      ...input,
      input_specs: {},
      output_specs: {},
      constraints: {
        cpu_cores: 0,
        ram_mb: 0,
        vram_mb: 0,
        gpu_count: 0,
        gpu_tags: [],
        worker_tags: [],
        timeout_seconds: 0,
      },
      retry_policy: { max_attempts: 1, backoff_seconds: 0, backoff_multiplier: 2, max_backoff_seconds: 3600 },
      event_delivery: {},
      created_at: t(1),
      updated_at: t(1),
    });
  });

  it('normalizes every part', () => {
    const def = defineOp(
      {
        ...input,
        description: 'resizes',
        input_specs: { w: { type: 'integer', default: 64 } },
        output_specs: { url: { type: 'string' } },
        constraints: { vram_mb: 4000, gpu_tags: ['a100', 'a100'] },
        retry_policy: { max_attempts: 3 },
        event_delivery: { webhook_url: 'https://hooks.local/x' },
      },
      t(1),
    );
    expect(def).toMatchObject({
      description: 'resizes',
      input_specs: { w: { type: 'integer', default: 64 } },
      output_specs: { url: { type: 'string' } },
      constraints: { vram_mb: 4000, gpu_count: 1, gpu_tags: ['a100'] },
      retry_policy: { max_attempts: 3, backoff_seconds: 0, backoff_multiplier: 2 },
      event_delivery: { webhook_url: 'https://hooks.local/x' },
    });
  });

  it('keeps created_at of the existing entry when the same id and version is replaced', () => {
    const first = defineOp(input, t(1));
    const again = defineOp({ ...input, image: 'reg.local/resize:2' }, t(9), first);
    expect(again).toMatchObject({ image: 'reg.local/resize:2', created_at: t(1), updated_at: t(9) });
    expect(defineOp(input, t(9), null).created_at).toEqual(t(9));
  });

  it('names every bad field at once', () => {
    const bad = {
      id: 'Bad Id',
      version: '',
      image: 'has space',
      description: 5,
      input_specs: { x: { type: 'text' } },
      output_specs: [],
      constraints: { ram_mb: -1 },
      retry_policy: { max_attempts: 0 },
      event_delivery: { webhook_url: 'ftp://x' },
    };
    expect(fields(() => defineOp(bad as never, t(1)))).toEqual([
      'id',
      'version',
      'image',
      'input_specs.x.type',
      'constraints.ram_mb',
      'retry_policy.max_attempts',
      'event_delivery.webhook_url',
      'output_specs',
      'description',
    ]);
  });
});

describe('latest version', () => {
  const def = (version: string, s: number) => defineOp({ id: 'op', version, image: 'i' }, t(s));

  it('is the most recently created, not the highest version', () => {
    const v1 = def('1', 1);
    const v3 = def('3', 2);
    const v2 = def('2', 3);
    expect(latestVersion([v1, v3, v2])?.version).toBe('2');
    expect(latestVersion([v2, v1, v3])?.version).toBe('2');
  });

  it('breaks a tie on created_at by version, and is undefined for none', () => {
    expect([def('2', 3), def('9', 3)].sort(compareNewestFirst).map((d) => d.version)).toEqual(['9', '2']);
    expect(latestVersion([def('a', 1), def('b', 1)])?.version).toBe('b');
    expect(latestVersion([])).toBeUndefined();
  });

  it('does not reorder the list it is given', () => {
    const list = [def('1', 1), def('2', 2)];
    latestVersion(list);
    expect(list.map((d) => d.version)).toEqual(['1', '2']);
  });
});
