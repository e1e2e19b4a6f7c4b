import { issues } from '../test/issues';
import { type InputSpecs, validateInputSpecs, validateInputs } from './index';

describe('validateInputs per type', () => {
  it.each([
    ['string', 'hello', 42],
    ['integer', 7, 7.5],
    ['integer', -3, '3'],
    ['number', 7.5, '7.5'],
    ['number', 0, Number.NaN],
    ['boolean', false, 'false'],
    ['object', { a: [1] }, [1]],
    ['object', {}, null],
    ['array', [1, 'a'], { 0: 1 }],
  ] as const)('%s accepts %p and refuses %p', (type, good, bad) => {
    const specs: InputSpecs = { x: { type, required: type !== 'object' || bad !== null } };
    expect(validateInputs(specs, { x: good })).toEqual({ x: good });
    if (bad === null) return; // null counts as missing; covered below
    expect(issues(() => validateInputs(specs, { x: bad }))).toEqual([
      { field: 'inputs.x', message: `must be of type ${type}` },
    ]);
  });
});

describe('validateInputs rules', () => {
  const specs: InputSpecs = {
    prompt: { type: 'string' },
    steps: { type: 'integer', default: 20 },
    seed: { type: 'integer', required: false },
    options: { type: 'object', default: { fast: true } },
  };

  it('reports missing required inputs and unknown names by field, all at once', () => {
    expect(issues(() => validateInputs(specs, { promt: 'typo', steps: 'x' }))).toEqual([
      { field: 'inputs.promt', message: 'unknown input' },
      { field: 'inputs.prompt', message: 'is required' },
      { field: 'inputs.steps', message: 'must be of type integer' },
    ]);
  });

  it('does not take the methods every object inherits for given inputs', () => {
    // Built from entries: an object literal's valueOf or toString is typed as the method.
    const named: InputSpecs = Object.fromEntries([
      ['valueOf', { type: 'string', default: 'x' }],
      ['toString', { type: 'integer', required: false }],
      ['hasOwnProperty', { type: 'object' }],
    ] as const);
    expect(issues(() => validateInputs(named, {}))).toEqual([
      { field: 'inputs.hasOwnProperty', message: 'is required' },
    ]);
    expect(validateInputs(named, { hasOwnProperty: {} })).toEqual({ valueOf: 'x', hasOwnProperty: {} });
  });

  it('fills defaults and leaves optional inputs without default absent', () => {
    const out = validateInputs(specs, { prompt: 'a cat' });
    expect(out).toEqual({ prompt: 'a cat', steps: 20, options: { fast: true } });
    expect(out).not.toHaveProperty('seed');
  });

  it('copies defaults so runs never share one object', () => {
    const out = validateInputs(specs, { prompt: 'a' });
    (out.options as Record<string, unknown>).fast = false;
    expect(specs.options.default).toEqual({ fast: true });
  });

  it('accepts any inputs when there are no specs', () => {
    expect(validateInputs(undefined, { anything: [1] })).toEqual({ anything: [1] });
    expect(validateInputs({}, undefined)).toEqual({});
  });

  it('refuses inputs that are not an object', () => {
    expect(issues(() => validateInputs(specs, [] as never))).toEqual([
      { field: 'inputs', message: 'must be an object' },
    ]);
  });
});

describe('validateInputs per field', () => {
  it.each(['string', 'integer', 'number', 'boolean', 'object', 'array'] as const)(
    'a required %s that is missing or null is reported as inputs.<name>',
    (type) => {
      const specs: InputSpecs = { value: { type } };
      const missing = [{ field: 'inputs.value', message: 'is required' }];
      expect(issues(() => validateInputs(specs, {}))).toEqual(missing);
      expect(issues(() => validateInputs(specs, { value: null }))).toEqual(missing);
      expect(issues(() => validateInputs(specs, undefined))).toEqual(missing);
    },
  );

  it.each([
    ['string', 'x'],
    ['integer', 3],
    ['number', 0.5],
    ['boolean', true],
    ['object', { deep: { list: [1] } }],
    ['array', [{ a: 1 }]],
  ] as const)('a %s default is filled in as a copy', (type, value) => {
    const specs: InputSpecs = { value: { type, default: value } };
    const first = validateInputs(specs, {});
    expect(first).toEqual({ value });
    if (typeof value === 'object') {
      expect(first.value).not.toBe(value);
      expect(validateInputs(specs, {}).value).not.toBe(first.value);
    }
  });

  it('a given value wins over the default, and an optional input without default stays absent', () => {
    const specs: InputSpecs = { steps: { type: 'integer', default: 20 }, seed: { type: 'integer', required: false } };
    expect(validateInputs(specs, { steps: 5 })).toEqual({ steps: 5 });
    expect(validateInputs(specs, { seed: null })).toEqual({ steps: 20 });
    expect(validateInputs(specs, { seed: 1 })).toEqual({ steps: 20, seed: 1 });
  });

  it('names each unknown input', () => {
    expect(issues(() => validateInputs({ a: { type: 'string', required: false } }, { b: 1, c: 2 }))).toEqual([
      { field: 'inputs.b', message: 'unknown input' },
      { field: 'inputs.c', message: 'unknown input' },
    ]);
  });

  it('does not take inherited names as specs', () => {
    expect(issues(() => validateInputs({ a: { type: 'string', required: false } }, { toString: 'x' }))).toEqual([
      { field: 'inputs.toString', message: 'unknown input' },
    ]);
  });

  it.each([['text'], [42], [true]])('refuses inputs %p that are not an object', (value) => {
    expect(issues(() => validateInputs({}, value as never))).toEqual([
      { field: 'inputs', message: 'must be an object' },
    ]);
  });

  it('returns a new object and never changes the one given', () => {
    const given = { prompt: 'a' };
    const out = validateInputs({ prompt: { type: 'string' }, n: { type: 'integer', default: 1 } }, given);
    expect(out).not.toBe(given);
    expect(given).toEqual({ prompt: 'a' });
    expect(validateInputs(undefined, given)).not.toBe(given);
  });
});

describe('validateInputSpecs', () => {
  it('accepts good specs and treats none as empty', () => {
    const specs: InputSpecs = {
      prompt: { type: 'string', description: 'what to draw' },
      steps: { type: 'integer', required: false, default: 20 },
      'opt.sub-name_2': { type: 'array', default: [] },
    };
    expect(validateInputSpecs(specs)).toEqual(specs);
    expect(validateInputSpecs(null)).toEqual({});
    expect(validateInputSpecs(undefined)).toEqual({});
  });

  it.each([
    [[], 'input_specs', 'must be an object'],
    ['x', 'input_specs', 'must be an object'],
    [{ a: null }, 'input_specs.a', 'must be an object'],
    [{ a: 'string' }, 'input_specs.a', 'must be an object'],
    [{ a: {} }, 'input_specs.a.type', 'must be one of string, integer, number, boolean, object, array'],
    [JSON.parse('{"__proto__": {"type": "string"}}'), 'input_specs.__proto__', 'invalid input name'],
    [{ '1st': { type: 'string' } }, 'input_specs.1st', 'invalid input name'],
    // A misspelt key used to be ignored: here the input stayed required.
    [
      { a: { type: 'string', requierd: false } },
      'input_specs.a.requierd',
      'unknown key (allowed: type, required, default, description)',
    ],
    [
      { a: { type: 'string', enum: ['x'] } },
      'input_specs.a.enum',
      'unknown key (allowed: type, required, default, description)',
    ],
    [
      { a: { type: 'string', description: { oops: 1 } } },
      'input_specs.a.description',
      'must be a string of at most 2000 characters',
    ],
    [
      { a: { type: 'string', description: 'x'.repeat(2001) } },
      'input_specs.a.description',
      'must be a string of at most 2000 characters',
    ],
  ])('refuses %j at %s', (specs, field, message) => {
    expect(issues(() => validateInputSpecs(specs as never))).toEqual([{ field, message }]);
  });

  it('checks type, required and default of each spec', () => {
    expect(
      issues(() =>
        validateInputSpecs({
          a: { type: 'text' as never },
          b: { type: 'integer', default: 'x' },
          c: { type: 'string', required: 'yes' as never },
          'bad name': { type: 'string' },
        }),
      ),
    ).toEqual([
      { field: 'input_specs.a.type', message: 'must be one of string, integer, number, boolean, object, array' },
      { field: 'input_specs.b.default', message: 'must be of type integer' },
      { field: 'input_specs.c.required', message: 'must be a boolean' },
      { field: 'input_specs.bad name', message: 'invalid input name' },
    ]);
  });
});
