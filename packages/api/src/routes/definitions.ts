import {
  DEFINITION_ID_PATTERN,
  defineOp,
  NotFoundError,
  type OpDefinitionInput,
  validateDefinitionId,
} from '@gyoza/domain';
import { DefinitionDto, ListDefinitionsQuery, VersionQuery } from '../dto/definition.dto';
import { CreateRunFromDefinitionDto } from '../dto/run.dto';
import type { RouteSpec } from '../route';
import { definitionJson } from '../serialize';
import { parseDto } from '../validation';
import { createRunFromRequest, IDEMPOTENCY_HEADER } from './runs';

const name = (value: unknown) => validateDefinitionId(value, 'name');

export const definitionRoutes: RouteSpec[] = [
  {
    method: 'post',
    path: '/definitions',
    tag: 'definitions',
    summary: 'Create or replace a definition (same id and version: replaced; new version: added)',
    body: DefinitionDto,
    success: { status: 200, description: 'The stored definition', schema: 'OpDefinition' },
    async handler(req, res, { store, clock }) {
      const dto = parseDto(DefinitionDto, req.body, 'body');
      const existing = await store.definitions.getDefinition(dto.id, dto.version);
      const definition = defineOp(dto as OpDefinitionInput, clock(), existing);
      res.json(definitionJson(await store.definitions.putDefinition(definition)));
    },
  },
  {
    method: 'get',
    path: '/definitions',
    tag: 'definitions',
    summary: 'Every version of every definition, by id and newest first (?latest=true: the latest of each id)',
    query: ListDefinitionsQuery,
    success: { status: 200, description: 'Definitions', schema: 'OpDefinitionList' },
    async handler(req, res, { store }) {
      const { latest } = parseDto(ListDefinitionsQuery, req.query, 'query');
      const latestOfEach = await store.definitions.listDefinitions();
      const definitions =
        latest === 'true'
          ? latestOfEach
          : (await Promise.all(latestOfEach.map((d) => store.definitions.listDefinitionVersions(d.id)))).flat();
      res.json(definitions.map(definitionJson));
    },
  },
  {
    method: 'get',
    path: '/definitions/:name',
    tag: 'definitions',
    summary: 'A definition: the given version, or the latest (most recently created)',
    params: { name: DEFINITION_ID_PATTERN },
    query: VersionQuery,
    success: { status: 200, description: 'The definition', schema: 'OpDefinition' },
    async handler(req, res, { store }) {
      const { version } = parseDto(VersionQuery, req.query, 'query');
      const id = name(req.params.name);
      const definition = await store.definitions.getDefinition(id, version);
      if (!definition) throw new NotFoundError('definition', version ? `${id}@${version}` : id);
      res.json(definitionJson(definition));
    },
  },
  {
    method: 'get',
    path: '/definitions/:name/versions',
    tag: 'definitions',
    summary: 'Every version of a definition, newest first',
    params: { name: DEFINITION_ID_PATTERN },
    success: { status: 200, description: 'Definitions', schema: 'OpDefinitionList' },
    async handler(req, res, { store }) {
      const id = name(req.params.name);
      const versions = await store.definitions.listDefinitionVersions(id);
      if (versions.length === 0) throw new NotFoundError('definition', id);
      res.json(versions.map(definitionJson));
    },
  },
  {
    method: 'delete',
    path: '/definitions/:name',
    tag: 'definitions',
    summary: 'Delete one version, or every version when none is given (runs are kept)',
    params: { name: DEFINITION_ID_PATTERN },
    query: VersionQuery,
    success: { status: 200, description: 'How many versions were deleted', schema: 'Deleted' },
    async handler(req, res, { store }) {
      const { version } = parseDto(VersionQuery, req.query, 'query');
      const id = name(req.params.name);
      const deleted = await store.definitions.deleteDefinition(id, version);
      if (deleted === 0) throw new NotFoundError('definition', version ? `${id}@${version}` : id);
      res.json({ deleted });
    },
  },
  {
    method: 'post',
    path: '/definitions/:name/runs',
    tag: 'runs',
    summary: 'Create a run of a definition (latest version unless ?version=); honors Idempotency-Key',
    params: { name: DEFINITION_ID_PATTERN },
    headers: [IDEMPOTENCY_HEADER],
    query: VersionQuery,
    body: CreateRunFromDefinitionDto,
    bodyOptional: true,
    success: {
      status: 201,
      description: 'The new run',
      schema: 'OpRun',
      replay: { status: 200, description: 'The same run, on a replay with the same Idempotency-Key' },
    },
    async handler(req, res, ctx) {
      const { version } = parseDto(VersionQuery, req.query, 'query');
      const dto = parseDto(CreateRunFromDefinitionDto, req.body ?? {}, 'body');
      await createRunFromRequest(req, res, ctx, { ...dto, definition_id: name(req.params.name), version });
    },
  },
];
