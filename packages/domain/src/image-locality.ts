import { placeOnEmptyWorker } from './fit';
import type { OpRun } from './run';
import type { Worker } from './worker';

const canonical = new Map<string, string>();

/**
 * One spelling per image reference, as the Docker engine resolves it: `busybox`,
 * `busybox:latest` and `docker.io/library/busybox:latest` are all
 * `docker.io/library/busybox:latest`; a reference with a digest is `repo@sha256:…` (a tag
 * beside a digest is ignored, as the engine does); `index.docker.io` is `docker.io`; a
 * registry host (a first component with `.` or `:`, or `localhost`) is kept, lower-cased.
 */
export function canonicalImageRef(ref: string): string {
  let found = canonical.get(ref);
  if (found !== undefined) return found;
  const at = ref.indexOf('@');
  const name = at === -1 ? ref.trim() : ref.slice(0, at).trim();
  const digest = at === -1 ? undefined : ref.slice(at + 1).trim();
  const slash = name.indexOf('/');
  const first = slash === -1 ? '' : name.slice(0, slash);
  const hasDomain = first.includes('.') || first.includes(':') || first === 'localhost';
  let domain = hasDomain ? first.toLowerCase() : 'docker.io';
  if (domain === 'index.docker.io') domain = 'docker.io';
  let path = hasDomain ? name.slice(slash + 1) : name;
  const colon = path.lastIndexOf(':');
  const tag = colon === -1 ? undefined : path.slice(colon + 1);
  if (colon !== -1) path = path.slice(0, colon);
  if (domain === 'docker.io' && !path.includes('/')) path = `library/${path}`;
  found = digest ? `${domain}/${path}@${digest}` : `${domain}/${path}:${tag || 'latest'}`;
  // References are few in practice; the cap only guards against a flood of distinct ones.
  if (canonical.size > 10_000) canonical.clear();
  canonical.set(ref, found);
  return found;
}

/** A worker as image locality sees it: what it could run, by id. */
export type ImageHolder = Pick<Worker, 'id' | 'resources' | 'tags'>;

/** Active workers by the images they hold (canonical references). */
export type ImageHolderIndex = ReadonlyMap<string, readonly ImageHolder[]>;

/** Indexes workers by the images their last heartbeats listed. */
export function indexImageHolders(
  workers: readonly Pick<Worker, 'id' | 'resources' | 'tags' | 'images'>[],
): ImageHolderIndex {
  const index = new Map<string, ImageHolder[]>();
  for (const worker of workers) {
    const holder: ImageHolder = { id: worker.id, resources: worker.resources, tags: worker.tags };
    for (const ref of new Set((worker.images ?? []).map(canonicalImageRef))) {
      const list = index.get(ref);
      if (list) list.push(holder);
      else index.set(ref, [holder]);
    }
  }
  return index;
}

/** What a claim needs to prefer workers that hold a run's image. */
export interface ImageLocality {
  /** Other active workers by the images they hold (may be a few seconds old). */
  holders: ImageHolderIndex;
  /**
   * How long after a run became PENDING a worker without its image leaves it to one with it;
   * 0 turns locality off.
   */
  waitSeconds: number;
  now: Date;
}

/** The worker a run is left to, and until when. */
export interface ImageDeferral {
  holder: ImageHolder;
  image: string;
  until: Date;
}

/**
 * Whether `worker` should leave `run` to another worker, and to which: only while the run
 * has been PENDING (since `updated_at`, the time of its last transition) less than
 * `waitSeconds`, only when `worker` lacks the image, and only for another active worker that
 * holds it and could run the run when empty. Past the bound anyone takes it, so a run is never
 * held back for good. `workerImages` is read only when another worker holds the image.
 */
export function imageDeferral(
  run: Pick<OpRun, 'image' | 'constraints' | 'updated_at'>,
  workerId: string,
  workerImages: () => ReadonlySet<string>,
  locality: ImageLocality,
): ImageDeferral | undefined {
  if (locality.waitSeconds <= 0) return undefined;
  const until = new Date(run.updated_at.getTime() + locality.waitSeconds * 1000);
  if (locality.now >= until) return undefined;
  const image = canonicalImageRef(run.image);
  const holders = locality.holders.get(image);
  if (!holders) return undefined;
  const holder = holders.find((h) => h.id !== workerId && placeOnEmptyWorker(run.constraints, h).fits);
  if (!holder || workerImages().has(image)) return undefined;
  return { holder, image: run.image, until };
}

/** The canonical references of the images a worker holds. */
export function heldImageSet(images: readonly string[] | undefined): ReadonlySet<string> {
  return new Set((images ?? []).map(canonicalImageRef));
}
