import { lookup } from 'node:dns/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { signWebhook } from '@gyoza/domain';
import type { OutboxEntry } from '@gyoza/store';

/**
 * Targets refused unless allowed: loopback, private, carrier-grade NAT, link-local (cloud
 * metadata at 169.254.169.254 and fd00:ec2::254), multicast, reserved and unspecified ranges.
 */
const INTERNAL_NETWORKS: readonly string[] = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '224.0.0.0/4',
  '240.0.0.0/4',
  '::/128',
  '::1/128',
  'fc00::/7',
  'fe80::/10',
  'ff00::/8',
];

function addNetwork(list: BlockList, cidr: string): void {
  const [address, bits, extra] = cidr.trim().split('/');
  const family = isIP(address);
  const prefix = Number(bits);
  const max = family === 6 ? 128 : 32;
  if (family === 0 || extra !== undefined || !/^\d+$/.test(bits ?? '') || prefix > max) {
    throw new Error(`'${cidr}' is not a CIDR network (e.g. 127.0.0.0/8)`);
  }
  list.addSubnet(address, prefix, family === 6 ? 'ipv6' : 'ipv4');
}

/** Parses comma-separated CIDRs (`127.0.0.0/8,10.0.0.0/8`); throws on a malformed one. */
export function parseNetworks(text: string): string[] {
  const networks = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const cidr of networks) addNetwork(new BlockList(), cidr);
  return networks;
}

/** Decides which resolved addresses a webhook may be sent to. */
export class TargetGuard {
  private readonly internal = new BlockList();
  private readonly allowed = new BlockList();

  constructor(allowNetworks: readonly string[] = []) {
    for (const cidr of INTERNAL_NETWORKS) addNetwork(this.internal, cidr);
    for (const cidr of allowNetworks) addNetwork(this.allowed, cidr);
  }

  /** Null when the address may be reached, else why not. */
  refusal(address: string): string | null {
    let ip = address;
    let family: 'ipv4' | 'ipv6' = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
    // An IPv4-mapped IPv6 address reaches the IPv4 host: judge that one.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
    if (mapped) {
      ip = mapped[1];
      family = 'ipv4';
    }
    if (this.allowed.check(ip, family)) return null;
    if (this.internal.check(ip, family)) {
      return `${address} is an internal address (allow it with GYOZA_WEBHOOK_ALLOW_NETWORKS)`;
    }
    return null;
  }
}

export interface SendOptions {
  guard: TargetGuard;
  timeoutMs: number;
  /** How much of a response body is read (for the error message); the rest is dropped. */
  maxResponseBytes: number;
  now: Date;
  /** Ends the attempt at once (the process is stopping): `abandoned`, nothing is known of it. */
  signal?: AbortSignal;
}

export type SendResult =
  | { kind: 'delivered'; status: number }
  /** Given up before an answer, because `signal` aborted: neither sent nor failed. */
  | { kind: 'abandoned' }
  /** `permanent`: 410 Gone or a refused target; no retry. */
  | { kind: 'failed'; status?: number; error: string; permanent: boolean };

/** The headers of one attempt (the id is the delivery's, the same on every attempt). */
export function webhookHeaders(entry: OutboxEntry, now: Date): Record<string, string> {
  const timestamp = Math.floor(now.getTime() / 1000);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'gyoza-webhooks',
    'webhook-id': entry.id,
    'webhook-timestamp': String(timestamp),
  };
  if (entry.secret) headers['webhook-signature'] = signWebhook(entry.secret, entry.id, timestamp, entry.body);
  return headers;
}

/**
 * One POST of the delivery. The host is resolved here and the connection goes to exactly the
 * address that was checked (no second lookup a DNS rebinding could answer differently);
 * redirects are not followed (a 3xx is a failure); the whole exchange is bounded by
 * `timeoutMs` and at most `maxResponseBytes` of the answer are read.
 */
export async function sendWebhook(entry: OutboxEntry, options: SendOptions): Promise<SendResult> {
  let url: URL;
  try {
    url = new URL(entry.url);
  } catch {
    return { kind: 'failed', error: 'not a URL', permanent: true };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { kind: 'failed', error: `${url.protocol} URLs are not sent`, permanent: true };
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let address: string;
  let family: number;
  try {
    if (isIP(host)) {
      address = host;
      family = isIP(host);
    } else {
      ({ address, family } = await lookup(host));
    }
  } catch (error) {
    return { kind: 'failed', error: `cannot resolve ${host}: ${(error as Error).message}`, permanent: false };
  }
  const refusal = options.guard.refusal(address);
  if (refusal) return { kind: 'failed', error: `refused: ${refusal}`, permanent: true };
  const pinned: LookupFunction = (_hostname, lookupOptions, callback) => {
    if ((lookupOptions as { all?: boolean }).all) {
      (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address, family }]);
    } else callback(null, address, family);
  };
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<SendResult>((resolve) => {
    let settled = false;
    const finish = (result: SendResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(result);
    };
    const req = send(url, {
      method: 'POST',
      headers: { ...webhookHeaders(entry, options.now), 'content-length': Buffer.byteLength(entry.body) },
      lookup: pinned,
      agent: false,
    });
    const timer = setTimeout(
      () => finish({ kind: 'failed', error: `timed out after ${options.timeoutMs} ms`, permanent: false }),
      options.timeoutMs,
    );
    const abandon = () => finish({ kind: 'abandoned' });
    if (options.signal?.aborted) abandon();
    options.signal?.addEventListener('abort', abandon, { once: true });
    req.once('close', () => options.signal?.removeEventListener('abort', abandon));
    req.on('error', (error) => finish({ kind: 'failed', error: error.message, permanent: false }));
    req.on('response', (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      let size = 0;
      const done = () => {
        if (status >= 200 && status < 300) return finish({ kind: 'delivered', status });
        const text = Buffer.concat(chunks).subarray(0, options.maxResponseBytes).toString('utf8').trim();
        const error = `HTTP ${status}${text ? `: ${text.slice(0, 200)}` : ''}`;
        finish({ kind: 'failed', status, error, permanent: status === 410 });
      };
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
        if (size >= options.maxResponseBytes) done();
      });
      res.on('end', done);
      res.on('error', done);
    });
    req.end(entry.body);
  });
}
