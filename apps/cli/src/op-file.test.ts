import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OpFileError, parseOpFile } from './op-file';

const example = join(__dirname, '../../../examples/hello/gyoza.yml');

function problemsOf(text: string): string[] {
  try {
    parseOpFile(text, 'op.yml');
  } catch (error) {
    if (error instanceof OpFileError) return error.message.split('\n');
    throw error;
  }
  throw new Error('expected the file to be refused');
}

describe('parseOpFile', () => {
  it('reads the documented example into a definition', () => {
    const { definition } = parseOpFile(readFileSync(example, 'utf8'));
    expect(definition).toMatchObject({
      id: 'hello',
      version: '1.0.0',
      image: 'gyoza-hello:latest',
      input_specs: {
        name: { type: 'string', default: 'world' },
        times: { type: 'integer', default: 1 },
        shout: { type: 'boolean' },
      },
      output_specs: { greeting: { type: 'string' } },
      constraints: { cpu_cores: 0.5, ram_mb: 128, timeout_seconds: 300 },
      retry_policy: { max_attempts: 3, backoff_seconds: 5 },
    });
    expect(definition.event_delivery).toBeUndefined();
    // Its webhook block, commented out, reads once uncommented.
    const uncommented = readFileSync(example, 'utf8').replace(/^# (event_delivery:.*| {2}.*)$/gm, '$1');
    expect(parseOpFile(uncommented).definition.event_delivery).toEqual({
      webhook_url: 'https://example.com/hooks/gyoza',
      event_types: ['COMPLETED', 'FAILED'],
      secret: 'change-me',
    });
  });

  it('reads image_pull_policy and shm_size_mb, and refuses a policy it does not know', () => {
    const { definition } = parseOpFile(
      'id: a\nversion: 1\nimage: busybox\nimage_pull_policy: always\nconstraints:\n  shm_size_mb: 2048\n',
    );
    expect(definition).toMatchObject({ image_pull_policy: 'always', constraints: { shm_size_mb: 2048 } });
    expect(problemsOf('id: a\nversion: 1\nimage: busybox\nimage_pull_policy: sometimes\n')).toEqual([
      'op.yml:4:20: image_pull_policy: must be one of if-not-present, always, never',
    ]);
  });

  it('follows YAML anchors and aliases, in inputs and outputs alike', () => {
    const { definition } = parseOpFile(
      'id: a\nversion: 1\nimage: busybox\ninputs:\n  x: &text {type: string}\n  y: *text\noutputs:\n  a: &o {type: integer}\n  b: *o\n',
    );
    expect(definition.input_specs).toEqual({ x: { type: 'string' }, y: { type: 'string' } });
    expect(definition.output_specs).toEqual({ a: { type: 'integer' }, b: { type: 'integer' } });
  });

  it('keeps an unquoted version as written and accepts `retry` for retry_policy', () => {
    const { definition } = parseOpFile('id: a\nversion: 1.0\nimage: busybox\nretry:\n  max_attempts: 2\n');
    expect(definition.version).toBe('1.0');
    expect(definition.retry_policy).toEqual({ max_attempts: 2 });
  });

  it('names the line, column and field of every rule it breaks', () => {
    const text = [
      'id: Hello World',
      'version: "1"',
      'image: busybox',
      'inputs:',
      '  name: {type: strin}',
      'constraints:',
      '  cpu_cores: -1',
      'colour: red',
    ].join('\n');
    expect(problemsOf(text)).toEqual([
      expect.stringMatching(/^op\.yml:1:5: id: must match/),
      'op.yml:5:16: inputs.name.type: must be one of string, integer, number, boolean, object, array',
      'op.yml:7:14: constraints.cpu_cores: must be a non-negative number',
      expect.stringMatching(/^op\.yml:8:1: colour: unknown key/),
    ]);
  });

  it('reports missing required keys and YAML syntax errors with their line', () => {
    expect(problemsOf('id: a\nversion: "1"\n')).toEqual(['op.yml:1:1: image: is required']);
    expect(problemsOf('id: a\nversion: "1"\n  image: [\n')[0]).toMatch(/^op\.yml:3:\d+: /);
    expect(problemsOf('- just\n- a list\n')).toEqual(['op.yml:1:1: must be a mapping of id, version, image, ...']);
  });
});
