import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a test receiver got. */
export interface ReceivedWebhook {
  headers: IncomingHttpHeaders;
  /** The raw body, as signed. */
  body: string;
  at: number;
}

/** How the receiver answers a request: a status (and body), or `hang` to never answer. */
export type ReceiverAnswer = number | { status: number; body?: string } | 'hang';

export interface WebhookReceiver {
  url: string;
  port: number;
  received: ReceivedWebhook[];
  /** Decides each answer; the default answers 204. */
  answer: (webhook: ReceivedWebhook, index: number) => ReceiverAnswer;
  /** Stops listening (connections refused) until `listen` again on the same port. */
  close(): Promise<void>;
  listen(): Promise<void>;
}

/** A real HTTP receiver on 127.0.0.1 that records every webhook. */
export async function startWebhookReceiver(port = 0): Promise<WebhookReceiver> {
  const hanging = new Set<ServerResponse>();
  const receiver: WebhookReceiver = {
    url: '',
    port,
    received: [],
    answer: () => 204,
    close: async () => {
      for (const res of hanging) res.destroy();
      hanging.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    listen: () =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(receiver.port, '127.0.0.1', () => {
          receiver.port = (server.address() as AddressInfo).port;
          receiver.url = `http://127.0.0.1:${receiver.port}/hook`;
          resolve();
        });
      }),
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const webhook = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      receiver.received.push(webhook);
      const answer = receiver.answer(webhook, receiver.received.length - 1);
      if (answer === 'hang') {
        hanging.add(res);
        return;
      }
      const { status, body } = typeof answer === 'number' ? { status: answer, body: '' } : answer;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(body);
    });
  });
  await receiver.listen();
  return receiver;
}
