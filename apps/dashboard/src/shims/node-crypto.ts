/**
 * Browser stand-in for node:crypto. `crypto.randomUUID` exists only in secure contexts
 * (https or localhost), so a plain-http server elsewhere gets a getRandomValues UUID.
 */
export function randomUUID(): string {
  if (typeof globalThis.crypto.randomUUID === 'function') return globalThis.crypto.randomUUID();
  const b = globalThis.crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function randomBytes(size: number): { toString(encoding: 'hex'): string } {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(size));
  return { toString: () => Array.from(bytes, (x) => x.toString(16).padStart(2, '0')).join('') };
}
