import { type FieldIssue, ValidationError } from './errors';

export const INPUT_TYPES = ['string', 'integer', 'number', 'boolean', 'object', 'array'] as const;
export type InputType = (typeof INPUT_TYPES)[number];

export interface InputSpec {
  type: InputType;
  /** Defaults to true. */
  required?: boolean;
  default?: unknown;
  description?: string;
}

export type InputSpecs = Record<string, InputSpec>;
export type Inputs = Record<string, unknown>;

export function matchesType(type: InputType, value: unknown): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'array':
      return Array.isArray(value);
  }
}

/** The keys an input spec may have: a misspelt one (`requierd`) would otherwise be ignored. */
const SPEC_KEYS = ['type', 'required', 'default', 'description'];

/** Checks the specs themselves (when a definition is deployed). */
export function validateInputSpecs(specs: InputSpecs | undefined | null, field = 'input_specs'): InputSpecs {
  if (specs === undefined || specs === null) return {};
  if (typeof specs !== 'object' || Array.isArray(specs)) throw ValidationError.field(field, 'must be an object');
  const issues: FieldIssue[] = [];
  for (const [name, spec] of Object.entries(specs)) {
    const at = `${field}.${name}`;
    // `__proto__` would set the prototype of the filled-in inputs instead of a field.
    if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/.test(name) || name === '__proto__')
      issues.push({ field: at, message: 'invalid input name' });
    if (!spec || typeof spec !== 'object') {
      issues.push({ field: at, message: 'must be an object' });
      continue;
    }
    for (const key of Object.keys(spec)) {
      if (!SPEC_KEYS.includes(key))
        issues.push({ field: `${at}.${key}`, message: `unknown key (allowed: ${SPEC_KEYS.join(', ')})` });
    }
    if (spec.description !== undefined && (typeof spec.description !== 'string' || spec.description.length > 2000)) {
      issues.push({ field: `${at}.description`, message: 'must be a string of at most 2000 characters' });
    }
    if (!INPUT_TYPES.includes(spec.type)) {
      issues.push({ field: `${at}.type`, message: `must be one of ${INPUT_TYPES.join(', ')}` });
      continue;
    }
    if (spec.required !== undefined && typeof spec.required !== 'boolean') {
      issues.push({ field: `${at}.required`, message: 'must be a boolean' });
    }
    if (spec.default !== undefined && !matchesType(spec.type, spec.default)) {
      issues.push({ field: `${at}.default`, message: `must be of type ${spec.type}` });
    }
  }
  if (issues.length > 0) throw new ValidationError(`invalid ${field}`, issues);
  return specs;
}

/**
 * Validates run inputs against a definition's specs and fills defaults.
 * Missing required inputs, unknown names and wrong types are each reported by field.
 */
export function validateInputs(specs: InputSpecs | undefined, inputs: Inputs | undefined | null): Inputs {
  const given = inputs ?? {};
  if (typeof given !== 'object' || Array.isArray(given)) throw ValidationError.field('inputs', 'must be an object');
  // Ad-hoc runs and definitions without specs accept any inputs.
  if (!specs || Object.keys(specs).length === 0) return { ...given };
  const issues: FieldIssue[] = [];
  const out: Inputs = {};
  for (const name of Object.keys(given)) {
    if (!Object.hasOwn(specs, name)) issues.push({ field: `inputs.${name}`, message: 'unknown input' });
  }
  for (const [name, spec] of Object.entries(specs)) {
    // Own keys only: an input named like an Object method (valueOf, toString) is not given
    // because every object inherits one.
    const value = Object.hasOwn(given, name) ? given[name] : undefined;
    if (value === undefined || value === null) {
      if (spec.default !== undefined) out[name] = structuredClone(spec.default);
      else if (spec.required !== false) issues.push({ field: `inputs.${name}`, message: 'is required' });
      continue;
    }
    if (!matchesType(spec.type, value)) {
      issues.push({ field: `inputs.${name}`, message: `must be of type ${spec.type}` });
      continue;
    }
    out[name] = value;
  }
  if (issues.length > 0) throw new ValidationError('invalid inputs', issues);
  return out;
}
