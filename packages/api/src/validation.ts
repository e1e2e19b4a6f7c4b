import 'reflect-metadata';
import { type FieldIssue, ValidationError } from '@gyoza/domain';
import { plainToInstance } from 'class-transformer';
import { type ValidationError as ClassValidationError, validateSync } from 'class-validator';

type Dto<T> = new () => T;

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
 * Turns untrusted input into a validated DTO: unknown fields are refused, every problem is
 * reported with the field it concerns, and nothing is coerced except where the DTO says so
 * (query strings to numbers).
 */
export function parseDto<T extends object>(dto: Dto<T>, input: unknown, what: string): T {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ValidationError(`${what} must be a JSON object`, [{ field: what, message: 'must be a JSON object' }]);
  }
  const instance = plainToInstance(dto, input, { exposeDefaultValues: false });
  const errors = validateSync(instance, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true });
  if (errors.length > 0) {
    const details = flatten(errors);
    throw new ValidationError(`invalid ${what}: ${details.map((d) => `${d.field} ${d.message}`).join('; ')}`, details);
  }
  return instance;
}
