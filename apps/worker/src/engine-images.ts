/**
 * The images the local engine holds, as a worker reports them in its heartbeat (the scheduler
 * may prefer a worker that already has a run's image). Listed again only every `refreshMs`.
 */
import { MAX_WORKER_IMAGES } from '@gyoza/domain';
import type Docker from 'dockerode';
import type { Logger } from 'pino';

export interface EngineImagesOptions {
  docker: Docker;
  /** How long a listing is reused before the engine is asked again. */
  refreshMs: number;
  logger: Logger;
}

export class EngineImages {
  private readonly options: EngineImagesOptions;
  /** The engine's images as last listed, and when. */
  private last?: { refs: string[]; listedAt: number };

  constructor(options: EngineImagesOptions) {
    this.options = options;
  }

  /**
   * Repo tags and digests of the engine's images, newest first and at most MAX_WORKER_IMAGES;
   * the last listing when the engine cannot say, undefined when it never could.
   */
  async list(): Promise<string[] | undefined> {
    const now = Date.now();
    if (this.last && now - this.last.listedAt < this.options.refreshMs) return this.last.refs;
    try {
      const listed = await this.options.docker.listImages();
      const refs = listed
        .sort((a, b) => b.Created - a.Created)
        .flatMap((image) => [...(image.RepoTags ?? []), ...(image.RepoDigests ?? [])])
        .filter((ref) => !ref.startsWith('<none>'));
      this.last = { refs: [...new Set(refs)].slice(0, MAX_WORKER_IMAGES), listedAt: now };
    } catch (error) {
      this.options.logger.warn({ err: (error as Error).message }, 'cannot list the engine images');
    }
    return this.last?.refs;
  }
}
