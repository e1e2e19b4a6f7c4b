import type { ApiErrorDetail, DefinitionJson } from '@gyoza/client';

type InputSpecs = NonNullable<DefinitionJson['input_specs']>;
type InputSpec = InputSpecs[string];

/** One control of the run form, generated from an input spec. */
export interface FormField {
  name: string;
  type: InputSpec['type'];
  control: 'text' | 'number' | 'checkbox' | 'json';
  /** Required with no default: the server refuses the run without it. */
  required: boolean;
  description?: string;
  /** What the control shows at first: the default, as text (or a boolean for a checkbox). */
  initial: string | boolean;
  /** Shown greyed in an empty control: the default the server applies. */
  placeholder: string;
}

export type FormValues = Record<string, string | boolean>;

const CONTROLS: Record<InputSpec['type'], FormField['control']> = {
  string: 'text',
  integer: 'number',
  number: 'number',
  boolean: 'checkbox',
  object: 'json',
  array: 'json',
};

/** The form's fields, in the order the definition lists its inputs. */
export function fieldsFromSpecs(specs: InputSpecs | undefined): FormField[] {
  return Object.entries(specs ?? {}).map(([name, spec]) => {
    const hasDefault = spec.default !== undefined;
    const control = CONTROLS[spec.type] ?? 'json';
    const shown = hasDefault ? (typeof spec.default === 'string' ? spec.default : JSON.stringify(spec.default)) : '';
    return {
      name,
      type: spec.type,
      control,
      required: spec.required !== false && !hasDefault,
      description: spec.description,
      initial: control === 'checkbox' ? spec.default === true : '',
      placeholder: shown,
    };
  });
}

/**
 * The run's `inputs` from what was typed, or the fields' errors. An empty control is left
 * out, so the server applies the default (or says the input is required).
 */
export function inputsFromForm(
  fields: FormField[],
  values: FormValues,
): { inputs: Record<string, unknown>; errors: Record<string, string> } {
  const inputs: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const field of fields) {
    const value = values[field.name] ?? field.initial;
    if (field.control === 'checkbox') {
      inputs[field.name] = value === true;
      continue;
    }
    const text = String(value).trim();
    if (text === '') {
      if (field.required) errors[field.name] = 'is required';
      continue;
    }
    switch (field.type) {
      case 'string':
        inputs[field.name] = String(value);
        break;
      case 'integer':
      case 'number': {
        const n = Number(text);
        if (!Number.isFinite(n)) errors[field.name] = 'must be a number';
        else if (field.type === 'integer' && !Number.isInteger(n)) errors[field.name] = 'must be a whole number';
        else inputs[field.name] = n;
        break;
      }
      default: {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          errors[field.name] = `must be JSON (${field.type === 'array' ? '[…]' : '{…}'})`;
          break;
        }
        const isArray = Array.isArray(parsed);
        const isObject = typeof parsed === 'object' && parsed !== null && !isArray;
        if (field.type === 'array' ? !isArray : !isObject) errors[field.name] = `must be a JSON ${field.type}`;
        else inputs[field.name] = parsed;
      }
    }
  }
  return { inputs, errors };
}

/**
 * The server's validation details by form field: `inputs.size` goes to the `size` control;
 * anything else (a whole-body problem) to `''`.
 */
export function fieldErrorsFromApi(details: readonly ApiErrorDetail[]): Record<string, string> {
  const errors: Record<string, string> = {};
  for (const { field, message } of details) {
    const key = field.startsWith('inputs.') ? field.slice('inputs.'.length) : '';
    errors[key] = errors[key] ? `${errors[key]}; ${message}` : message;
  }
  return errors;
}
