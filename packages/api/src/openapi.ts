// class-transformer keeps `@Type(() => GpuDto)` here; without it nested arrays become `$ref: Array`.
import { defaultMetadataStorage } from 'class-transformer/cjs/storage';
import { getMetadataStorage, ValidationTypes } from 'class-validator';
import { targetConstructorToSchema, validationMetadatasToSchemas } from 'class-validator-jsonschema';
import { RESPONSE_SCHEMAS, type ResponseSchemaName, type Schema } from './openapi-schemas';
import type { RouteSpec } from './route';

const REF_PREFIX = '#/components/schemas/';
const ref = (name: string): Schema => ({ $ref: `${REF_PREFIX}${name}` });

const errorResponse = (description: string, headers?: Schema) => ({
  description,
  ...(headers ? { headers } : {}),
  content: { 'application/json': { schema: ref('Error') } },
});

const RETRY_AFTER = {
  'Retry-After': { description: 'Seconds to wait before trying again', schema: { type: 'integer', minimum: 0 } },
};

/**
 * Our own validators (validation.ts), by name. By default class-validator-jsonschema describes
 * a custom validator by the field's TypeScript type, which for `string[]` or `unknown` is a
 * `$ref` to `Array` or `Object`; a check a schema cannot say is described as no constraint.
 */
const CUSTOM_VALIDATORS: Record<string, Schema> = {
  isStringOrNumber: { type: ['string', 'number'] },
};
const customValidator = (meta: { name?: string }): Schema => CUSTOM_VALIDATORS[meta.name ?? ''] ?? {};

/**
 * Request schemas as validation runs them: every DTO refuses unknown fields
 * (forbidNonWhitelisted), so each is closed; `format: url` is not a JSON Schema format.
 */
function requestSchemas(routes: readonly RouteSpec[]): Record<string, Schema> {
  const options = {
    classValidatorMetadataStorage: getMetadataStorage(),
    classTransformerMetadataStorage: defaultMetadataStorage,
    refPointerPrefix: REF_PREFIX,
    additionalConverters: { [ValidationTypes.CUSTOM_VALIDATION]: customValidator },
  };
  const schemas = validationMetadatasToSchemas(options) as Record<string, Schema>;
  // A DTO that only inherits its fields has no metadata of its own and is missing above.
  for (const dto of routes.flatMap((r) => [r.body, r.query])) {
    if (dto && !schemas[dto.name]) schemas[dto.name] = targetConstructorToSchema(dto, options) as Schema;
  }
  for (const schema of Object.values(schemas)) {
    schema.additionalProperties = false;
    standardFormats(schema);
  }
  return schemas;
}

function standardFormats(schema: unknown): void {
  if (typeof schema !== 'object' || schema === null) return;
  const node = schema as Schema;
  if (node.format === 'url') node.format = 'uri';
  for (const child of Object.values(node)) standardFormats(child);
}

/**
 * Answers that name a resource, and the operations that take it by a path parameter: the
 * document links them, so a client (or schemathesis' stateful phase) can follow a created
 * run or definition. A stream, which stays open until the run ends, is left out.
 */
const RESOURCES: Partial<Record<ResponseSchemaName, { prefix: string; param: string }>> = {
  OpRun: { prefix: '/runs/{id}', param: 'id' },
  OpDefinition: { prefix: '/definitions/{name}', param: 'name' },
};

function links(routes: readonly RouteSpec[], schema: ResponseSchemaName): Schema | undefined {
  const resource = RESOURCES[schema];
  if (!resource) return undefined;
  const targets = routes
    .map((route) => ({ route, path: route.path.replace(/:([A-Za-z_]+)/g, '{$1}') }))
    .filter(({ route, path }) => path.startsWith(resource.prefix) && route.success.contentType === undefined);
  return Object.fromEntries(
    targets.map(({ route, path }) => [
      operationId(route.method, path),
      { operationId: operationId(route.method, path), parameters: { [resource.param]: '$response.body#/id' } },
    ]),
  );
}

function operationId(method: string, path: string): string {
  return `${method}${path.replace(/[{}]/g, '').replace(/\/(\w)/g, (_, c: string) => c.toUpperCase())}`.replace(
    /[^A-Za-z0-9]/g,
    '',
  );
}

function successContent(route: RouteSpec): Schema {
  const schema: ResponseSchemaName = route.success.schema;
  return { [route.success.contentType ?? 'application/json']: { schema: ref(schema) } };
}

function operation(
  route: RouteSpec,
  path: string,
  requests: Record<string, Schema>,
  routes: readonly RouteSpec[],
): Schema {
  const parameters: Schema[] = [...route.path.matchAll(/:([A-Za-z_]+)/g)].map(([, name]) => {
    const pattern = route.params?.[name];
    return {
      name,
      in: 'path',
      required: true,
      schema: pattern ? { type: 'string', pattern: pattern.source } : { type: 'string' },
    };
  });
  if (route.query) {
    const query = requests[route.query.name] as { properties?: Record<string, Schema> };
    for (const [name, schema] of Object.entries(query.properties ?? {})) {
      parameters.push({ name, in: 'query', required: false, schema });
    }
  }
  for (const header of route.headers ?? []) {
    parameters.push({
      name: header.name,
      in: 'header',
      required: false,
      description: header.description,
      schema: header.pattern ? { type: 'string', pattern: header.pattern.source } : { type: 'string' },
    });
  }
  const takesInput = parameters.length > 0 || route.body !== undefined;
  const takesBody = route.body !== undefined || route.method === 'post' || route.method === 'patch';
  const linked = links(routes, route.success.schema);
  const success = (description: string) => ({
    description,
    content: successContent(route),
    ...(linked ? { links: linked } : {}),
  });
  const responses: Record<string, Schema> = { [route.success.status]: success(route.success.description) };
  if (route.success.replay) responses[route.success.replay.status] = success(route.success.replay.description);
  if (takesInput) responses[400] = errorResponse('Invalid input; `details` names the fields');
  if (!route.open) responses[401] = errorResponse('Missing or wrong X-API-Key');
  if (route.params || route.body) responses[404] = errorResponse('Not found');
  if (route.method !== 'get') responses[409] = errorResponse('Conflicting state');
  if (takesBody) {
    responses[413] = errorResponse('Request body larger than the configured limit');
    responses[415] = errorResponse('Request body is not application/json (UTF-8)');
  }
  if (!route.open) responses[429] = errorResponse('Too many failed authentications from this address', RETRY_AFTER);
  const result: Schema = {
    tags: [route.tag],
    summary: route.summary,
    operationId: operationId(route.method, path),
    parameters,
    responses,
  };
  if (route.open) result.security = [];
  if (route.body) {
    result.requestBody = {
      required: !route.bodyOptional,
      content: { 'application/json': { schema: ref(route.body.name) } },
    };
  }
  return result;
}

/**
 * OpenAPI 3.1 built from the route table: requests from the same DTO classes that validate
 * them, answers from openapi-schemas.ts. A method a path does not list is answered 405.
 */
export function buildOpenApi(routes: readonly RouteSpec[], version: string): Schema {
  const requests = requestSchemas(routes);
  const clash = Object.keys(requests).filter((name) => Object.hasOwn(RESPONSE_SCHEMAS, name));
  if (clash.length > 0) throw new Error(`schema names used for a request and an answer: ${clash.join(', ')}`);
  const paths: Record<string, Record<string, Schema>> = {};
  for (const route of routes) {
    const path = route.path.replace(/:([A-Za-z_]+)/g, '{$1}');
    paths[path] = { ...paths[path], [route.method]: operation(route, path, requests, routes) };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'gyoza',
      version,
      description:
        'Job orchestrator for Docker images on GPU/CPU workers. A method that a path does not list is answered 405 with `Allow`.',
    },
    security: [{ apiKey: [] }],
    paths,
    components: {
      schemas: { ...requests, ...RESPONSE_SCHEMAS },
      securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' } },
    },
  };
}
