import { Readable } from 'node:stream';
import { extract, pack } from 'tar-stream';

/**
 * A tar archive of the directory `gyoza/` holding one file, for Docker's putArchive at `/`.
 * The directory is world-writable and sticky (mode 1777, like /tmp): the op writes
 * /gyoza/outputs.json whatever user its image runs as.
 */
export function gyozaArchive(name: string, content: string): Readable {
  const archive = pack();
  archive.entry({ name: 'gyoza/', type: 'directory', mode: 0o1777 });
  archive.entry({ name: `gyoza/${name}`, mode: 0o644 }, content);
  archive.finalize();
  return Readable.from(archive);
}

/** The first file of a tar stream (Docker's getArchive), or undefined. */
export async function firstFileOf(stream: NodeJS.ReadableStream, maxBytes: number): Promise<string | undefined> {
  const reader = extract();
  let content: string | undefined;
  const done = new Promise<void>((resolve, reject) => {
    reader.on('entry', (header, entry, next) => {
      const chunks: Buffer[] = [];
      let size = 0;
      entry.on('data', (data: unknown) => {
        const chunk = data as Buffer;
        size += chunk.length;
        if (size <= maxBytes) chunks.push(chunk);
      });
      entry.on('end', () => {
        if (content === undefined && header.type === 'file') {
          if (size > maxBytes) reject(new Error(`outputs file is larger than ${maxBytes} bytes`));
          content = Buffer.concat(chunks).toString('utf8');
        }
        next();
      });
      entry.resume();
    });
    reader.on('finish', () => resolve());
    reader.on('error', reject);
  });
  stream.pipe(reader);
  await done;
  return content;
}
