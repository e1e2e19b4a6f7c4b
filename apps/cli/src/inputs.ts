import { readFileSync } from 'node:fs';
import type { InputSpecs } from '@gyoza/domain';
import { UsageError } from './cli-error';

/** A decimal number as typed: no hex, octal or binary, no `Infinity`. */
const DECIMAL = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/;

/**
 * Converts `--input k=v` strings to the types the op declares. Without a spec (ad-hoc runs,
 * unknown names) a JSON literal is parsed when nothing is lost by it (see `parseUntyped`)
 * and anything else stays a string.
 */
export function parseInputFlags(flags: readonly string[], specs: InputSpecs = {}): Record<string, unknown> {
  const inputs: Record<string, unknown> = {};
  for (const flag of flags) {
    const eq = flag.indexOf('=');
    if (eq <= 0) throw new UsageError(`--input ${flag}: expected name=value`);
    const name = flag.slice(0, eq);
    inputs[name] = coerce(name, flag.slice(eq + 1), specs[name]?.type);
  }
  return inputs;
}

function coerce(name: string, raw: string, type: string | undefined): unknown {
  const bad = (what: string) => new UsageError(`--input ${name}: '${raw}' is not ${what}`);
  switch (type) {
    case 'string':
      return raw;
    case 'integer': {
      // Decimal digits only (not 0x10 or 1e3), and exactly representable (not rounded).
      const n = Number(raw);
      if (!/^\s*[-+]?\d+\s*$/.test(raw) || !Number.isSafeInteger(n)) throw bad('an integer');
      return n;
    }
    case 'number': {
      const n = Number(raw);
      if (!DECIMAL.test(raw) || !Number.isFinite(n)) throw bad('a number');
      return n;
    }
    case 'boolean':
      if (/^(true|yes|1)$/i.test(raw)) return true;
      if (/^(false|no|0)$/i.test(raw)) return false;
      throw bad('a boolean (true/false)');
    case 'object':
    case 'array': {
      let value: unknown;
      try {
        value = JSON.parse(raw);
      } catch {
        throw bad(`JSON ${type === 'object' ? 'object' : 'array'}`);
      }
      return value;
    }
    default:
      return parseUntyped(raw);
  }
}

/**
 * An input without a declared type: its JSON value when reading it as JSON loses nothing,
 * else the text as typed. A number must read back exactly as written (`3`, `2.5`; not
 * `1.10`, `1e3` or `12345678901234567890`, which would become 1.1, 1000 and
 * 12345678901234567000); an object or list must hold no number beyond a double's range or
 * its exact integers (2^53).
 */
function parseUntyped(raw: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return raw;
  }
  if (typeof value === 'number') return JSON.stringify(value) === raw && !isInexact(value) ? value : raw;
  return holdsInexactNumber(value) ? raw : value;
}

/** Out of a double's range, or an integer past 2^53 (rounded to a neighbour). */
function isInexact(n: number): boolean {
  return !Number.isFinite(n) || (Number.isInteger(n) && !Number.isSafeInteger(n));
}

function holdsInexactNumber(value: unknown): boolean {
  if (typeof value === 'number') return isInexact(value);
  if (value === null || typeof value !== 'object') return false;
  return Object.values(value).some(holdsInexactNumber);
}

export function readInputsFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`--inputs-file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--inputs-file ${file}: not valid JSON (${(error as Error).message})`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new UsageError(`--inputs-file ${file}: must hold a JSON object of input names to values`);
  }
  return value as Record<string, unknown>;
}
