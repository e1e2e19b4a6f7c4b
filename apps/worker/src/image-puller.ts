import { IMAGE_PULL_POLICIES, type ImagePullPolicy } from '@gyoza/domain';
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import type { RegistryAuth } from './registry-auth';

/** When the worker pulls an op's image before creating its container (the domain's list). */
export const PULL_POLICIES = IMAGE_PULL_POLICIES;
export type PullPolicy = ImagePullPolicy;

/** Bytes of an image pull so far, summed over its layers. */
export interface PullProgress {
  image: string;
  doneBytes: number;
  totalBytes: number;
}

/**
 * An image the worker could not get. `permanent` (not found, unauthorized, manifest unknown,
 * `never` with the image missing): retrying the same attempt cannot help. Otherwise
 * (registry unreachable, the pull time limit): a later attempt may succeed.
 */
export class ImagePullError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
    this.name = 'ImagePullError';
  }
}

/**
 * The Docker engine did not answer (its socket is gone, refused or reset): nothing is known
 * of the image, and the run is not to blame. The agent hands such a run back.
 */
export class EngineUnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EngineUnreachableError';
  }
}

/** Socket errors of a request to the engine that got no answer at all. */
const NO_ANSWER = new Set([
  'ENOENT',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'EACCES',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
]);

/** Whether `error` says the engine could not be reached (rather than that it refused something). */
export function isEngineUnreachable(error: unknown): boolean {
  const { code, statusCode, message } = error as { code?: string; statusCode?: number; message?: string };
  if (statusCode !== undefined) return false;
  return (code !== undefined && NO_ANSWER.has(code)) || /socket hang up/i.test(message ?? '');
}

/** The engine's reason without dockerode's `(HTTP code 400) unexpected -` prefix. */
const engineReason = (error: unknown) =>
  String((error as Error).message ?? error)
    .replace(/^\(HTTP code \d+\)\s*[a-z ]*-\s*/i, '')
    .trim();

/** The engine did not answer: `error` as an EngineUnreachableError, else undefined. */
function unreachable(error: unknown): EngineUnreachableError | undefined {
  return isEngineUnreachable(error)
    ? new EngineUnreachableError(`the Docker engine does not answer: ${engineReason(error)}`)
    : undefined;
}

/** A 4xx: the engine refused the request itself (an invalid reference); retrying cannot help. */
function refusedByEngine(error: unknown): boolean {
  const status = (error as { statusCode?: number }).statusCode;
  return status !== undefined && status >= 400 && status < 500;
}

const PERMANENT =
  /not found|manifest unknown|unauthorized|authentication required|access.*denied|denied|no basic auth credentials|repository does not exist|invalid reference format/i;

interface LayerEvent {
  id?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
  progressDetail?: { current?: number; total?: number };
}

export interface ImagePullerOptions {
  docker: Docker;
  auth: RegistryAuth;
  logger: Logger;
  /** A pull that takes longer is aborted and fails the attempt (transient). */
  timeoutMs: number;
}

/**
 * Gets op images onto this worker. Attempts needing the same image share one pull; each
 * follows its progress. Credentials go to the engine only (`X-Registry-Auth`).
 */
export class ImagePuller {
  private readonly pulls = new Map<
    string,
    { done: Promise<void>; listeners: Set<(p: PullProgress) => void>; waiters: number; stop: AbortController }
  >();

  constructor(private readonly options: ImagePullerOptions) {}

  /**
   * Whether the engine has `image` (by name or digest). Rejects with an EngineUnreachableError
   * when the engine does not answer, and with a permanent ImagePullError when it refuses the
   * reference itself (an invalid one: upper case, a bad tag).
   */
  async has(image: string): Promise<boolean> {
    try {
      await this.options.docker.getImage(image).inspect();
      return true;
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return false;
      const away = unreachable(error);
      if (away) throw away;
      if (refusedByEngine(error)) {
        const reason = engineReason(error).replace(/^no such image: .*?: (?=invalid reference)/i, '');
        throw new ImagePullError(`cannot use image ${image}: ${reason}`, true);
      }
      throw error;
    }
  }

  /**
   * Makes `image` present as `policy` says; resolves at once when nothing is to pull.
   * Rejects with an {@link ImagePullError}, an {@link EngineUnreachableError}, or with `signal`'s reason as soon as it aborts:
   * the caller stops waiting, the pull goes on for whoever else waits on it (to its timeout).
   */
  async ensure(
    image: string,
    policy: PullPolicy,
    onProgress?: (p: PullProgress) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    if (policy !== 'always' && (await this.has(image))) return;
    if (policy === 'never') {
      throw new ImagePullError(`image ${image} is not on this worker and the pull policy is never`, true);
    }
    let pull = this.pulls.get(image);
    if (!pull) {
      const listeners = new Set<(p: PullProgress) => void>();
      const stop = new AbortController();
      const started = this.pull(
        image,
        (p) => {
          for (const listener of listeners) listener(p);
        },
        stop.signal,
      );
      const entry = { done: started, listeners, waiters: 0, stop };
      // Only this pull's own entry: one stopped for want of waiters may have a successor.
      entry.done = started.finally(() => {
        if (this.pulls.get(image) === entry) this.pulls.delete(image);
      });
      pull = entry;
      this.pulls.set(image, pull);
    }
    const waiting = pull;
    waiting.waiters += 1;
    if (onProgress) waiting.listeners.add(onProgress);
    try {
      await (signal ? untilAborted(waiting.done, signal) : waiting.done);
    } finally {
      if (onProgress) waiting.listeners.delete(onProgress);
      waiting.waiters -= 1;
      // Nobody waits for it any more (the last one gave up): the engine's pull is stopped too,
      // and a later ensure starts a pull of its own.
      if (waiting.waiters === 0 && signal?.aborted) {
        if (this.pulls.get(image) === waiting) this.pulls.delete(image);
        waiting.stop.abort();
      }
    }
  }

  private async pull(image: string, onProgress: (p: PullProgress) => void, stopped: AbortSignal): Promise<void> {
    const { docker, auth, logger, timeoutMs } = this.options;
    const abort = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, timeoutMs);
    const stop = () => abort.abort();
    stopped.addEventListener('abort', stop, { once: true });
    const layers = new Map<string, { current: number; total: number }>();
    const startedAt = Date.now();
    logger.info({ image }, 'pulling image');
    try {
      const authconfig = auth.credentialsFor(image);
      const stream = await docker.pull(image, { ...(authconfig ? { authconfig } : {}), abortSignal: abort.signal });
      await new Promise<void>((resolve, reject) => {
        docker.modem.followProgress(
          stream,
          (error: Error | null) => (error ? reject(error) : resolve()),
          (event: LayerEvent) => {
            const message = event.errorDetail?.message ?? event.error;
            if (message) return reject(new Error(message));
            const detail = event.progressDetail;
            if (!event.id || event.status !== 'Downloading' || !detail?.total) {
              if (event.id && event.status === 'Download complete') {
                const layer = layers.get(event.id);
                if (layer) layer.current = layer.total;
              } else return;
            } else layers.set(event.id, { current: detail.current ?? 0, total: detail.total });
            let doneBytes = 0;
            let totalBytes = 0;
            for (const layer of layers.values()) {
              doneBytes += layer.current;
              totalBytes += layer.total;
            }
            onProgress({ image, doneBytes, totalBytes });
          },
        );
      });
      logger.info({ image, ms: Date.now() - startedAt }, 'pulled image');
    } catch (error) {
      if (timedOut) {
        throw new ImagePullError(`pulling ${image} took longer than ${Math.round(timeoutMs / 1000)}s`, false);
      }
      if (abort.signal.aborted) throw new ImagePullError(`pulling ${image} stopped: nobody waits for it`, false);
      const away = unreachable(error);
      if (away) throw away;
      const message = engineReason(error);
      throw new ImagePullError(`cannot pull ${image}: ${message}`, refusedByEngine(error) || PERMANENT.test(message));
    } finally {
      clearTimeout(timer);
      stopped.removeEventListener('abort', stop);
    }
  }
}

/** `done`'s outcome, or `signal`'s reason as soon as it aborts. */
function untilAborted(done: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<void>((resolve, reject) => {
    const stop = () => reject(signal.reason);
    signal.addEventListener('abort', stop, { once: true });
    done.then(resolve, reject).finally(() => signal.removeEventListener('abort', stop));
  });
}
