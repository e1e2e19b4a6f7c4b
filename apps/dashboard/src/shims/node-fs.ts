/** Browser stand-in for node:fs: the client only reads a local key file, which a browser has not. */
export function readFileSync(): never {
  throw new Error('no file system in a browser');
}
