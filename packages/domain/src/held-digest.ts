/**
 * A digest of the run ids a worker holds: their count and the XOR of a 64-bit hash of each.
 * Order does not matter and one id can be added or taken away in O(1) (XOR again), so the
 * agent and the server can both keep it as runs come and go. A heartbeat that carries the
 * digest instead of every id costs the same with 5,000 runs held as with none; only when the
 * two sides disagree does the worker send the list. Two different sets of ids share a digest
 * with a probability of about 2^-64.
 */

/** `<count>:<16 lowercase hex digits>`, as sent in `held_digest`. */
export const HELD_DIGEST_PATTERN = /^(0|[1-9][0-9]{0,8}):[0-9a-f]{16}$/;

/** The digest of no runs. */
export const EMPTY_HELD_DIGEST = '0:0000000000000000';

/**
 * A 64-bit hash of a run id (two 32-bit multiply-xorshift lanes over its UTF-16 code units,
 * mixed at the end), unsigned. Not cryptographic: it only has to tell sets of ids apart.
 */
export function runIdHash(id: string): bigint {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (BigInt(h2 >>> 0) << 32n) | BigInt(h1 >>> 0);
}

/** The wire form of a count and a XOR of hashes (any sign: read as 64 unsigned bits). */
export function formatHeldDigest(count: number, xor: bigint): string {
  return `${count}:${BigInt.asUintN(64, xor).toString(16).padStart(16, '0')}`;
}

/** The digest of these run ids (each counted once). */
export function heldRunsDigest(ids: Iterable<string>): string {
  let count = 0;
  let xor = 0n;
  for (const id of new Set(ids)) {
    count++;
    xor ^= runIdHash(id);
  }
  return formatHeldDigest(count, xor);
}
