import { ValidationError } from '@gyoza/domain';

/**
 * Bounds on any JSON a request carries, checked in one iterative pass before anything else
 * reads it: nothing recursive (class-transformer, the domain's copies) ever sees a deeper
 * or larger value, and a refusal costs one walk of an already parsed body.
 */
export interface JsonLimits {
  /** Objects and arrays nested deeper than this are refused. @defaultValue 32 */
  maxDepth: number;
  /** Object keys plus array items in one value, all levels together. @defaultValue 10000 */
  maxEntries: number;
  /**
   * Keys and items outside free-form fields, in the part a DTO describes field by field and
   * class-transformer copies (its cost grows faster than the key count). @defaultValue 1000
   */
  maxTypedEntries: number;
}

export const JSON_LIMITS: Readonly<JsonLimits> = { maxDepth: 32, maxEntries: 10_000, maxTypedEntries: 1_000 };

/**
 * Keys refused at any depth: `__proto__` replaces a prototype when copied with `=`,
 * `constructor` and `prototype` break class transformation and naive merges.
 */
export const RESERVED_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

interface Frame {
  value: object;
  depth: number;
  parent: Frame | undefined;
  key: string;
  /** Inside a free-form field. */
  free: boolean;
}

/** `a.b.0.c` from a frame chain; built only for an error, so the walk allocates no paths. */
function pathOf(frame: Frame | undefined, key?: string): string {
  const parts: string[] = key === undefined ? [] : [key];
  for (let f = frame; f?.parent !== undefined; f = f.parent) parts.push(f.key);
  return parts.reverse().join('.');
}

const UNPAIRED = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const NOT_TEXT = 'holds an unpaired surrogate (\\uD800-\\uDFFF alone), which no text encoding can store';

/**
 * Strings must be text a store keeps as sent (an unpaired surrogate comes back as U+FFFD, a
 * different count of them per store); numbers must be finite (JSON's 1e400 parses to
 * Infinity, which JSON cannot say again: it would be stored as null).
 */
function checkScalar(value: string | number, field: () => string): void {
  if (typeof value === 'string') {
    if (UNPAIRED.test(value)) throw ValidationError.field(field(), NOT_TEXT);
  } else if (!Number.isFinite(value)) {
    throw ValidationError.field(field(), 'is not a finite number (too large for a 64-bit float)');
  }
}

const tooDeep = (limits: JsonLimits) => `nests deeper than ${limits.maxDepth} levels`;
const tooMany = (limit: number) => `holds too much: more than ${limit} keys and items in one request`;

/**
 * Refuses a value nested deeper than `maxDepth`, holding more than `maxEntries` keys and
 * items (`maxTypedEntries` outside the top-level fields named in `freeForm`), or having a
 * reserved key (own keys: JSON.parse keeps `__proto__` as one), with a 400 naming the
 * field. `root` names the value itself when the problem is at its top. Iterative: a deep
 * value cannot overflow the stack.
 */
export function checkJsonLimits(
  value: unknown,
  root: string,
  freeForm: readonly string[] = [],
  limits: JsonLimits = JSON_LIMITS,
): void {
  if (typeof value === 'string' || typeof value === 'number') {
    checkScalar(value, () => root);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  const stack: Frame[] = [{ value, depth: 1, parent: undefined, key: '', free: false }];
  let entries = 0;
  let typedEntries = 0;
  for (let frame = stack.pop(); frame !== undefined; frame = stack.pop()) {
    const field = () => pathOf(frame) || root;
    if (frame.depth > limits.maxDepth) throw ValidationError.field(field(), tooDeep(limits));
    const keys = Array.isArray(frame.value) ? undefined : Object.keys(frame.value);
    const count = keys ? keys.length : (frame.value as unknown[]).length;
    entries += count;
    if (entries > limits.maxEntries) throw ValidationError.field(field(), tooMany(limits.maxEntries));
    if (!frame.free) {
      typedEntries += count;
      if (typedEntries > limits.maxTypedEntries) throw ValidationError.field(field(), tooMany(limits.maxTypedEntries));
    }
    const push = (item: unknown, key: string) => {
      if (typeof item === 'string' || typeof item === 'number') {
        checkScalar(item, () => pathOf(frame, key));
        return;
      }
      if (typeof item !== 'object' || item === null) return;
      const free = frame.free || (frame.parent === undefined && freeForm.includes(key));
      stack.push({ value: item, depth: frame.depth + 1, parent: frame, key, free });
    };
    if (keys === undefined) {
      const items = frame.value as unknown[];
      for (let i = 0; i < items.length; i++) push(items[i], String(i));
      continue;
    }
    const record = frame.value as Record<string, unknown>;
    for (const key of keys) {
      if (RESERVED_KEYS.has(key)) {
        throw ValidationError.field(pathOf(frame, key), `is a reserved name (${[...RESERVED_KEYS].join(', ')})`);
      }
      if (UNPAIRED.test(key)) throw ValidationError.field(pathOf(frame, key), NOT_TEXT);
      push(record[key], key);
    }
  }
}

const QUOTE = 0x22;

/** A key as JSON.parse would give it (escapes resolved), or as sent when it is not valid JSON. */
function keyAt(raw: Uint8Array, start: number, end: number): string {
  const text = Buffer.from(raw.subarray(start, end)).toString();
  try {
    return JSON.parse(`"${text}"`);
  } catch {
    return text;
  }
}

const BACKSLASH = 0x5c;

/**
 * The depth and size bounds of `checkJsonLimits` on the raw bytes, before JSON.parse: parsing
 * 70k keys alone blocks the event loop for ~60 ms, a byte scan of the same megabyte ~2 ms.
 * Counts keys (`:`) and array items (`,`) outside strings; malformed JSON is left for
 * JSON.parse to refuse. Reserved keys are `checkJsonLimits`'s, on the parsed value.
 */
export function scanJsonLimits(raw: Uint8Array, root: string, limits: JsonLimits = JSON_LIMITS): void {
  // Per open container (index = depth): whether it is an array, its current key or item index.
  const isArray: boolean[] = [];
  const keyStart: number[] = [];
  const keyEnd: number[] = [];
  const index: number[] = [];
  let depth = 0;
  let entries = 0;
  let stringStart = 0;
  let lastStringStart = 0;
  let lastStringEnd = 0;
  const field = (levels: number) => {
    const parts: string[] = [];
    for (let level = 1; level <= levels; level++) {
      if (isArray[level]) parts.push(String(index[level]));
      else parts.push(keyAt(raw, keyStart[level], keyEnd[level]));
    }
    return parts.join('.') || root;
  };
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === QUOTE) {
      // Jump over the string; a backslash escapes the next byte (UTF-8 continuation bytes are >= 0x80).
      stringStart = i + 1;
      for (i++; i < raw.length && raw[i] !== QUOTE; i++) if (raw[i] === BACKSLASH) i++;
      lastStringStart = stringStart;
      lastStringEnd = i;
      continue;
    }
    if (c === 0x7b || c === 0x5b) {
      if (depth >= limits.maxDepth) throw ValidationError.field(field(depth), tooDeep(limits));
      depth++;
      isArray[depth] = c === 0x5b;
      index[depth] = 0;
    } else if (c === 0x7d || c === 0x5d) {
      if (--depth < 0) return;
    } else if (c === 0x3a || (c === 0x2c && isArray[depth])) {
      if (c === 0x3a) {
        keyStart[depth] = lastStringStart;
        keyEnd[depth] = lastStringEnd;
      } else {
        index[depth]++;
      }
      if (++entries > limits.maxEntries) throw ValidationError.field(field(depth - 1), tooMany(limits.maxEntries));
    }
  }
}

/** NUL, U+FFFD (what invalid UTF-8 decodes to) and unpaired surrogates: never part of a name. */
const REPLACEMENT_OR_UNPAIRED = new RegExp(`\\uFFFD|${UNPAIRED.source}`);

/** Why a string cannot be an id, a version, a tag or an image name; undefined when it can. */
export function uncleanTextReason(value: string): string | undefined {
  if (value.includes('\u0000') || REPLACEMENT_OR_UNPAIRED.test(value)) {
    return 'must not contain NUL, U+FFFD (invalid UTF-8) or unpaired surrogates';
  }
  return undefined;
}
