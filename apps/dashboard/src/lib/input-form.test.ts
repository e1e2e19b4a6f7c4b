import { fieldErrorsFromApi, fieldsFromSpecs, inputsFromForm } from './input-form';

const specs = {
  name: { type: 'string' as const, description: 'Who' },
  times: { type: 'integer' as const, default: 1 },
  ratio: { type: 'number' as const, required: false },
  shout: { type: 'boolean' as const, default: true },
  meta: { type: 'object' as const, required: false },
  tags: { type: 'array' as const, default: ['a'] },
};

describe('fieldsFromSpecs', () => {
  it('makes one control per input, in order, with defaults as placeholders', () => {
    const fields = fieldsFromSpecs(specs);
    expect(fields.map((f) => [f.name, f.control, f.required, f.placeholder])).toEqual([
      ['name', 'text', true, ''],
      ['times', 'number', false, '1'],
      ['ratio', 'number', false, ''],
      ['shout', 'checkbox', false, 'true'],
      ['meta', 'json', false, ''],
      ['tags', 'json', false, '["a"]'],
    ]);
    expect(fields[3].initial).toBe(true);
    expect(fields[0].description).toBe('Who');
  });

  it('has no fields for a definition without input specs', () => {
    expect(fieldsFromSpecs(undefined)).toEqual([]);
  });
});

describe('inputsFromForm', () => {
  const fields = fieldsFromSpecs(specs);

  it('parses each type and leaves empty optional inputs to the server default', () => {
    const { inputs, errors } = inputsFromForm(fields, {
      name: ' Ada ',
      times: '3',
      ratio: '0.5',
      shout: false,
      meta: '{"k": 1}',
      tags: '',
    });
    expect(errors).toEqual({});
    expect(inputs).toEqual({ name: ' Ada ', times: 3, ratio: 0.5, shout: false, meta: { k: 1 } });
  });

  it('reports each bad field by name', () => {
    const { errors } = inputsFromForm(fields, { name: '', times: '2.5', ratio: 'x', meta: '[1]', tags: '{' });
    expect(errors).toEqual({
      name: 'is required',
      times: 'must be a whole number',
      ratio: 'must be a number',
      meta: 'must be a JSON object',
      tags: 'must be JSON ([…])',
    });
  });
});

describe('fieldErrorsFromApi', () => {
  it('puts the server’s inputs.<name> details on their fields and the rest on the form', () => {
    expect(
      fieldErrorsFromApi([
        { field: 'inputs.times', message: 'must be of type integer' },
        { field: 'inputs.times', message: 'too big' },
        { field: 'priority', message: 'must be an integer' },
      ]),
    ).toEqual({ times: 'must be of type integer; too big', '': 'must be an integer' });
  });
});
