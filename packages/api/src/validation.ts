import 'reflect-metadata';
import { type FieldIssue, ValidationError } from '@gyoza/domain';
import { plainToInstance } from 'class-transformer';
import {
  type ValidationError as ClassValidationError,
  getMetadataStorage,
  ValidateBy,
  ValidateIf,
  type ValidationOptions,
  validateSync,
} from 'class-validator';
import { checkJsonLimits, uncleanTextReason } from './json-limits';

type Dto<T> = new () => T;

/** The two lookups of class-validator's metadata storage that every validation makes. */
interface MetadataLookups {
  getTargetValidationMetadatas(
    target: object,
    schema: string,
    always: boolean,
    strictGroups: boolean,
    groups?: string[],
  ): object[];
  groupByPropertyName(metadatas: object[]): Record<string, object[]>;
  addValidationMetadata(metadata: object): void;
  addConstraintMetadata(metadata: object): void;
}

/**
 * class-validator looks a DTO's rules up again on every validation (of it and of each nested
 * DTO): it walks every registered class for the ones the DTO extends, then groups the rules
 * by property. The rules only change when a decorator runs, at class definition, so both
 * answers are kept per DTO (without groups, which gyoza does not use) and dropped whenever a
 * rule is added: a batch report's item validates in about a third of the time, a POST /runs
 * body in about two thirds.
 */
function keepValidationLookups(): void {
  const storage = getMetadataStorage() as unknown as MetadataLookups;
  const lookup = storage.getTargetValidationMetadatas.bind(storage);
  const group = storage.groupByPropertyName.bind(storage);
  const addValidation = storage.addValidationMetadata.bind(storage);
  const addConstraint = storage.addConstraintMetadata.bind(storage);
  const kept = new Map<string, Map<unknown, object[]>>();
  let grouped = new WeakMap<object[], Record<string, object[]>>();
  const forget = () => {
    kept.clear();
    grouped = new WeakMap();
  };
  storage.addValidationMetadata = (metadata) => {
    forget();
    addValidation(metadata);
  };
  storage.addConstraintMetadata = (metadata) => {
    forget();
    addConstraint(metadata);
  };
  storage.getTargetValidationMetadatas = (target, schema, always, strictGroups, groups) => {
    if (groups?.length) return lookup(target, schema, always, strictGroups, groups);
    const key = `${schema}\u0000${always}\u0000${strictGroups}`;
    let byTarget = kept.get(key);
    if (!byTarget) {
      byTarget = new Map();
      kept.set(key, byTarget);
    }
    let metadatas = byTarget.get(target);
    if (!metadatas) {
      metadatas = lookup(target, schema, always, strictGroups, groups);
      byTarget.set(target, metadatas);
    }
    return metadatas;
  };
  storage.groupByPropertyName = (metadatas) => {
    let byProperty = grouped.get(metadatas);
    if (!byProperty) {
      byProperty = group(metadatas);
      grouped.set(metadatas, byProperty);
    }
    return byProperty;
  };
}
keepValidationLookups();

/** A DTO whose rules span fields (an event's payload depends on its type). */
export interface CrossFieldChecked {
  /** Problems the per-field decorators cannot see; run once those passed. */
  crossFieldIssues(): FieldIssue[];
}

function isCrossFieldChecked(value: object): value is CrossFieldChecked {
  return typeof (value as Partial<CrossFieldChecked>).crossFieldIssues === 'function';
}

/** Free-form fields per DTO prototype (see `FreeForm`). */
const FREE_FORM = new WeakMap<object, Set<string>>();

/**
 * Marks a field as free-form JSON (inputs, outputs, payloads): it skips class transformation,
 * whose cost grows with the square of an object's keys, and is kept as parsed. Its size,
 * depth and keys are bounded by `checkJsonLimits`; its own decorators (`@IsObject()`) still run.
 */
export function FreeForm(): PropertyDecorator {
  return (target, key) => {
    const fields = FREE_FORM.get(target) ?? new Set<string>();
    fields.add(String(key));
    FREE_FORM.set(target, fields);
  };
}

function freeFormFields(dto: Dto<object>): string[] {
  const fields: string[] = [];
  for (let proto = dto.prototype; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    fields.push(...(FREE_FORM.get(proto) ?? []));
  }
  return fields;
}

/**
 * May be left out, but not sent as `null`: the field's other decorators then refuse `null`
 * with its name (where `@IsOptional()` would let it through as if absent).
 */
export function IsOmittable(): PropertyDecorator {
  return ValidateIf((_object, value) => value !== undefined);
}

/** Ids, versions, tags and image names: no NUL, no U+FFFD (invalid UTF-8), no lone surrogates. */
export function IsCleanText(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isCleanText',
      validator: {
        validate: (value) => typeof value !== 'string' || uncleanTextReason(value) === undefined,
        defaultMessage: () => 'must not contain NUL, U+FFFD (invalid UTF-8) or unpaired surrogates',
      },
    },
    options,
  );
}

export function IsStringOrNumber(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isStringOrNumber',
      validator: {
        validate: (value) => typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value)),
        defaultMessage: () => 'must be a string or a number',
      },
    },
    options,
  );
}

function flatten(errors: ClassValidationError[], prefix = ''): FieldIssue[] {
  return errors.flatMap((e) => {
    const field = prefix ? `${prefix}.${e.property}` : e.property;
    const own = Object.values(e.constraints ?? {}).map((message) => ({
      field,
      // class-validator starts messages with the property name; the field says it already.
      message: message.startsWith(`${e.property} `) ? message.slice(e.property.length + 1) : message,
    }));
    return [...own, ...flatten(e.children ?? [], field)];
  });
}

/**
 * Turns untrusted input into a validated DTO: the whole value is bounded first (depth, size,
 * reserved keys), unknown fields are refused, every problem is reported with the field it
 * concerns, and nothing is coerced except where the DTO says so (query strings to numbers).
 */
export function parseDto<T extends object>(dto: Dto<T>, input: unknown, what: string): T {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ValidationError(`${what} must be a JSON object`, [{ field: what, message: 'must be a JSON object' }]);
  }
  const freeForm = freeFormFields(dto);
  checkJsonLimits(input, what, freeForm);
  // Split by copying, not by deleting from a copy: an object that loses a key becomes a slow
  // dictionary for class-transformer to walk. Reserved keys (`__proto__`) were refused above.
  const plain: Record<string, unknown> = {};
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) (freeForm.includes(key) ? kept : plain)[key] = value;
  const instance = Object.assign(plainToInstance(dto, plain, { exposeDefaultValues: false }), kept);
  const errors = validateSync(instance, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true });
  let details = flatten(errors);
  if (details.length === 0 && isCrossFieldChecked(instance)) details = instance.crossFieldIssues();
  if (details.length > 0) {
    throw new ValidationError(`invalid ${what}: ${details.map((d) => `${d.field} ${d.message}`).join('; ')}`, details);
  }
  return instance;
}
