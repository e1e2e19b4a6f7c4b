import { getMetadataStorage } from 'class-validator';
import { validationMetadatasToSchemas } from 'class-validator-jsonschema';
import type { RouteSpec } from './route';

type Schema = Record<string, unknown>;

const ERROR_SCHEMA: Schema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        details: {
          type: 'array',
          items: { type: 'object', properties: { field: { type: 'string' }, message: { type: 'string' } } },
        },
      },
    },
  },
};

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

/** OpenAPI 3.1 built from the route table and the same DTO classes that validate requests. */
export function buildOpenApi(routes: readonly RouteSpec[], version: string): Schema {
  const schemas: Record<string, Schema> = validationMetadatasToSchemas({
    classValidatorMetadataStorage: getMetadataStorage(),
    refPointerPrefix: '#/components/schemas/',
  }) as Record<string, Schema>;
  const paths: Record<string, Record<string, Schema>> = {};
  for (const route of routes) {
    const path = route.path.replace(/:([A-Za-z_]+)/g, '{$1}');
    const parameters: Schema[] = [...route.path.matchAll(/:([A-Za-z_]+)/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    if (route.query) {
      const query = schemas[route.query.name] as { properties?: Record<string, Schema> } | undefined;
      for (const [name, schema] of Object.entries(query?.properties ?? {}))
        parameters.push({ name, in: 'query', schema });
    }
    const operation: Schema = {
      tags: [route.tag],
      summary: route.summary,
      operationId:
        `${route.method}${path.replace(/[{}]/g, '').replace(/\/(\w)/g, (_, c: string) => c.toUpperCase())}`.replace(
          /[^A-Za-z0-9]/g,
          '',
        ),
      parameters,
      responses: {
        [route.success.status]: {
          description: route.success.description,
          content: { [route.success.contentType ?? 'application/json']: { schema: {} } },
        },
        ...(route.open ? {} : { 401: errorResponse('Missing or wrong X-API-Key') }),
        400: errorResponse('Invalid input; `details` names the fields'),
        404: errorResponse('Not found'),
        409: errorResponse('Conflicting state'),
      },
    };
    if (route.open) operation.security = [];
    if (route.body) {
      operation.requestBody = {
        required: true,
        content: { 'application/json': { schema: { $ref: `#/components/schemas/${route.body.name}` } } },
      };
    }
    paths[path] = { ...paths[path], [route.method]: operation };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'gyoza', version, description: 'Job orchestrator for Docker images on GPU/CPU workers' },
    security: [{ apiKey: [] }],
    paths,
    components: {
      schemas: { ...schemas, Error: ERROR_SCHEMA },
      securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' } },
    },
  };
}
