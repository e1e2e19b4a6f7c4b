import { ValidationError } from '@gyoza/domain';
import { parseDto } from '../validation';
import { PostEventDto } from './run.dto';

function issuesOf(body: unknown): string[] {
  try {
    parseDto(PostEventDto, body, 'body');
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return ((error as ValidationError).details ?? []).map((d) => d.field);
  }
  return [];
}

describe('PostEventDto', () => {
  // Moved here from applyWorkerEvent: the shape of each type's payload is the DTO's to check.
  it.each([
    [{ type: 'STARTED', payload: { gpu_id: 'zero' } }, 'payload.gpu_id'],
    [{ type: 'LOG', worker_id: 5 }, 'worker_id'],
    [{ type: 'STARTED', payload: { gpu_id: 0.5 } }, 'payload.gpu_id'],
    [{ type: 'STARTED', payload: { worker_id: 7 } }, 'payload.worker_id'],
    [{ type: 'STARTED', payload: { worker_id: 'w\u0000' } }, 'payload.worker_id'],
    [{ type: 'COMPLETED', payload: { outputs: [1] } }, 'payload.outputs'],
    [{ type: 'COMPLETED', payload: { outputs: 'x' } }, 'payload.outputs'],
    [{ type: 'FAILED', payload: { error_message: 3 } }, 'payload.error_message'],
    [{ type: 'LOG', payload: 'text' }, 'payload'],
    [{ type: 'FINISHED' }, 'type'],
    [{ type: 'PROGRESS', msg: 140 }, 'msg'],
    [{ type: 'PROGRESS', msg: -1 }, 'msg'],
    [{ type: 'PROGRESS', msg: 'half' }, 'msg'],
    [{ type: 'PROGRESS' }, 'msg'],
    [{ type: 'PROGRESS', msg: { n: 1 } }, 'msg'],
    [{ type: 'LOG', msg: [1] }, 'msg'],
  ])('%j names %s', (body, field) => {
    expect(issuesOf(body)).toEqual([field]);
  });

  it.each([
    { type: 'STARTED', payload: { worker_id: 'w1', gpu_id: 0 } },
    { type: 'STARTED', payload: { gpu_id: null } },
    { type: 'PROGRESS', msg: 0 },
    { type: 'PROGRESS', msg: '42.5' },
    { type: 'COMPLETED', payload: { outputs: { n: 1 } } },
    { type: 'COMPLETED' },
    { type: 'FAILED', payload: { error_message: 'exit 3' } },
    { type: 'CANCELLED', msg: 'SIGTERM' },
    { type: 'LOG', msg: 'line', payload: { stream: 'stderr' }, attempt: 2, worker_id: 'w1' },
  ])('accepts %j as sent', (body) => {
    expect(issuesOf(body)).toEqual([]);
    expect({ ...parseDto(PostEventDto, body, 'body') }).toEqual(body);
  });

  it('keeps free-form payloads as parsed, never through class transformation', () => {
    const payload = { outputs: { nested: { list: [1, { deep: true }] } } };
    const dto = parseDto(PostEventDto, { type: 'COMPLETED', payload }, 'body');
    expect(dto.payload).toBe(payload);
  });
});
