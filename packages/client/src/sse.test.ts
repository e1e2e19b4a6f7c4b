import { parseSse, type SseMessage } from './sse';

function streamOf(chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
}

async function collect(chunks: string[]): Promise<SseMessage[]> {
  const out: SseMessage[] = [];
  for await (const message of parseSse(streamOf(chunks))) out.push(message);
  return out;
}

describe('parseSse', () => {
  it('splits messages on blank lines across arbitrary chunk borders', async () => {
    const text =
      ': hello\n\nid: 1\nevent: CREATED\ndata: {"index":1}\n\nid: 2\r\nevent: PROGRESS\r\ndata: {"index":2}\r\n\r\n';
    const chunks = text.match(/.{1,3}/gs) ?? [];
    expect(await collect(chunks)).toEqual([
      { id: '1', event: 'CREATED', data: '{"index":1}' },
      { id: '2', event: 'PROGRESS', data: '{"index":2}' },
    ]);
  });

  it('joins multi-line data, defaults the event name and drops an unfinished message', async () => {
    expect(await collect(['data: a\ndata:b\n\n', 'data: cut'])).toEqual([{ event: 'message', data: 'a\nb' }]);
  });
});
