import { type InputSpecs, ValidationError, validateInputSpecs, validateInputs } from './index';

function issues(fn: () => unknown) {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).details;
  }
  throw new Error('expected a ValidationError');
}

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

describe('validateInputSpecs', () => {
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
