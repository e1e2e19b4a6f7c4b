import { readFileSync } from 'node:fs';
import { defineOp, type FieldIssue, type OpDefinitionInput, ValidationError } from '@gyoza/domain';
import { isMap, isScalar, LineCounter, type Node, parseDocument } from 'yaml';
import { UsageError } from './cli-error';

/** Top-level keys of gyoza.yml, and the definition field each one fills. */
const KEYS: Record<string, keyof OpDefinitionInput> = {
  id: 'id',
  version: 'version',
  image: 'image',
  image_pull_policy: 'image_pull_policy',
  description: 'description',
  inputs: 'input_specs',
  outputs: 'output_specs',
  constraints: 'constraints',
  retry_policy: 'retry_policy',
  retry: 'retry_policy',
  event_delivery: 'event_delivery',
};

/** A gyoza.yml problem, located: `file:line:col: field: message`. */
export class OpFileError extends UsageError {
  constructor(
    readonly file: string,
    readonly problems: Array<{ line?: number; col?: number; field?: string; message: string }>,
  ) {
    super(
      problems
        .map((p) => {
          const where = p.line ? `${file}:${p.line}:${p.col ?? 1}` : file;
          return `${where}: ${p.field ? `${p.field}: ` : ''}${p.message}`;
        })
        .join('\n'),
    );
    this.name = 'OpFileError';
  }
}

export interface OpFile {
  definition: OpDefinitionInput;
  /** Maps a definition field path (`input_specs.x.type`) to its place in the file. */
  locate(field: string): { line?: number; col?: number; field: string };
}

/**
 * Reads gyoza.yml into a definition and checks it with the domain's own rules, so every
 * problem is reported with its line before anything is sent.
 */
export function readOpFile(file: string): OpFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return parseOpFile(text, file);
}

export function parseOpFile(text: string, file = 'gyoza.yml'): OpFile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new OpFileError(
      file,
      doc.errors.map((e) => {
        const pos = lines.linePos(e.pos[0]);
        return { line: pos.line, col: pos.col, message: e.message.split('\n')[0] ?? e.message };
      }),
    );
  }
  const at = (node: Node | null | undefined) => {
    if (!node?.range) return {};
    const pos = lines.linePos(node.range[0]);
    return { line: pos.line, col: pos.col };
  };
  if (!isMap(doc.contents)) {
    throw new OpFileError(file, [
      {
        ...at(doc.contents),
        line: at(doc.contents).line ?? 1,
        message: 'must be a mapping of id, version, image, ...',
      },
    ]);
  }
  const root = doc.contents;
  // Which spelling of the retry key the file used, to point back at it.
  const yamlKeyOf: Partial<Record<keyof OpDefinitionInput, string>> = {};
  const problems: Array<{ line?: number; col?: number; field?: string; message: string }> = [];
  const definition: Record<string, unknown> = {};
  for (const pair of root.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    const field = KEYS[key];
    if (!field) {
      problems.push({
        ...at(pair.key as Node),
        field: key,
        message: `unknown key (expected one of ${Object.keys(KEYS).join(', ')})`,
      });
      continue;
    }
    if (definition[field] !== undefined) {
      problems.push({
        ...at(pair.key as Node),
        field: key,
        message: `given twice (as ${yamlKeyOf[field]} and ${key})`,
      });
      continue;
    }
    yamlKeyOf[field] = key;
    const value = pair.value as Node | null;
    // YAML reads `version: 1.0` as the number 1; keep what the author wrote.
    if (field === 'version' && isScalar(value) && typeof value.value === 'number') {
      definition[field] = value.source ?? String(value.value);
    } else {
      // With the document, so aliases (*name) resolve to what their anchor holds.
      definition[field] = value ? (value as Node).toJS(doc) : null;
    }
  }
  if (definition.input_specs && typeof definition.input_specs === 'object' && !Array.isArray(definition.input_specs)) {
    // Shorthand: `name: string` means `name: {type: string}`.
    const specs = definition.input_specs as Record<string, unknown>;
    for (const [name, spec] of Object.entries(specs)) if (typeof spec === 'string') specs[name] = { type: spec };
  }

  const locate = (fieldPath: string) => {
    const parts = fieldPath.split('.');
    const top = parts[0] as keyof OpDefinitionInput;
    const yamlTop = yamlKeyOf[top] ?? Object.keys(KEYS).find((k) => KEYS[k] === top) ?? top;
    const path = [yamlTop, ...parts.slice(1)];
    // The deepest node that exists: the field itself, or the mapping it is missing from.
    for (let n = path.length; n > 0; n--) {
      const node = root.getIn(path.slice(0, n), true) as Node | undefined;
      if (node && typeof node === 'object' && 'range' in node) return { ...at(node), field: path.join('.') };
    }
    return { field: path.join('.') };
  };

  for (const required of ['id', 'version', 'image'] as const) {
    if (definition[required] === undefined || definition[required] === null) {
      problems.push({ line: 1, col: 1, field: required, message: 'is required' });
    }
  }
  // Every rule problem at once, besides the ones already reported above.
  try {
    defineOp(definition as unknown as OpDefinitionInput, new Date());
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    const issues: FieldIssue[] = error.details?.length ? error.details : [{ field: '', message: error.message }];
    for (const issue of issues) {
      const place = locate(issue.field);
      if (problems.some((p) => p.field === place.field)) continue;
      problems.push({ ...place, message: issue.message });
    }
  }
  problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
  if (problems.length > 0) throw new OpFileError(file, problems);
  return { definition: definition as unknown as OpDefinitionInput, locate };
}
