/** Browser stand-in for node:path, for the client's key-file lookup (which never finds a file here). */
export const join = (...parts: string[]): string => parts.join('/');
export const dirname = (path: string): string => path.replace(/\/[^/]*$/, '') || '.';
export const resolve = (path: string): string => path;
