import SwaggerParser from '@apidevtools/swagger-parser';
import type { OpenAPIV3_1 } from 'openapi-types';
import { ROUTES } from './index';
import { buildOpenApi } from './openapi';
import { RESPONSE_SCHEMAS } from './openapi-schemas';

type Node = Record<string, unknown>;
const spec = () => buildOpenApi(ROUTES, '0.0.0-test') as Node;

/** Every object in the document with its JSON pointer. */
function* walk(node: unknown, pointer = '#'): Generator<[string, Node]> {
  if (typeof node !== 'object' || node === null) return;
  yield [pointer, node as Node];
  for (const [key, child] of Object.entries(node)) yield* walk(child, `${pointer}/${key}`);
}

function resolve(doc: Node, ref: string): unknown {
  return ref
    .slice(2)
    .split('/')
    .reduce<unknown>((node, key) => (node as Node | undefined)?.[key], doc);
}

const operations = (doc: Node) =>
  Object.entries(doc.paths as Record<string, Record<string, Node>>).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({ at: `${method} ${path}`, path, method, op })),
  );

describe('OpenAPI document', () => {
  it('is a valid OpenAPI 3.1 document (swagger-parser)', async () => {
    const api = await SwaggerParser.validate(structuredClone(spec()) as unknown as OpenAPIV3_1.Document);
    expect((api as OpenAPIV3_1.Document).openapi).toBe('3.1.0');
  });

  it('has no dangling $ref', () => {
    const doc = spec();
    const dangling = [...walk(doc)]
      .filter(([, node]) => typeof node.$ref === 'string')
      .map(([at, node]) => [at, node.$ref as string])
      .filter(([, ref]) => !ref.startsWith('#/') || resolve(doc, ref) === undefined);
    expect(dangling).toEqual([]);
  });

  it('gives every success answer a real schema, and 200 for an idempotent replay of a 201', () => {
    const doc = spec();
    const empty = operations(doc).flatMap(({ at, op }) =>
      Object.entries(op.responses as Record<string, Node>)
        .filter(([status]) => status.startsWith('2'))
        .flatMap(([status, response]) =>
          Object.entries(response.content as Record<string, { schema: Node }>)
            .filter(([, media]) => Object.keys(media.schema).length === 0)
            .map(([type]) => `${at} ${status} ${type}`),
        ),
    );
    expect(empty).toEqual([]);
    const createRun = (doc.paths as Record<string, Record<string, Node>>)['/runs'].post;
    expect(Object.keys(createRun.responses as Node)).toEqual(
      expect.arrayContaining(['200', '201', '413', '415', '429']),
    );
    expect(createRun.parameters).toContainEqual(expect.objectContaining({ name: 'Idempotency-Key', in: 'header' }));
  });

  it('gives every path parameter its pattern', () => {
    const missing = operations(spec()).flatMap(({ at, op }) =>
      (op.parameters as { in: string; name: string; schema: Node }[])
        .filter((p) => p.in === 'path' && typeof p.schema.pattern !== 'string')
        .map((p) => `${at} ${p.name}`),
    );
    expect(missing).toEqual([]);
    const run = (spec().paths as Record<string, Record<string, { parameters: { schema: Node }[] }>>)['/runs/{id}'];
    expect(new RegExp(run.get.parameters[0].schema.pattern as string).test('run_abc123')).toBe(true);
  });

  it('closes every request body (unknown fields are refused) and uses standard formats only', () => {
    const doc = spec();
    const schemas = (doc.components as { schemas: Record<string, Node> }).schemas;
    const bodies = ROUTES.flatMap((r) => (r.body ? [r.body.name] : []));
    expect(bodies.filter((name) => schemas[name].additionalProperties !== false)).toEqual([]);
    const formats = [...walk(doc)].map(([, node]) => node.format).filter((f) => typeof f === 'string');
    const standard = ['date', 'date-time', 'email', 'int32', 'int64', 'double', 'float', 'uri', 'uuid'];
    expect(formats.filter((f) => !standard.includes(f as string))).toEqual([]);
    expect(formats).toContain('uri');
    expect(JSON.stringify(doc)).not.toContain('"nullable"');
  });

  it('keeps request and answer schema names apart, and answers without the webhook secret', () => {
    const names = Object.keys((spec().components as { schemas: Node }).schemas);
    expect(names.length).toBe(new Set(names).size);
    const requestNames = ROUTES.flatMap((r) => [r.body?.name, r.query?.name]).filter(Boolean);
    expect(requestNames.filter((n) => Object.hasOwn(RESPONSE_SCHEMAS, n as string))).toEqual([]);
    const delivery = RESPONSE_SCHEMAS.EventDelivery as { properties: Node };
    expect(Object.keys(delivery.properties)).not.toContain('secret');
  });
});
