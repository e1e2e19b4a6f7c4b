import { type ImageHolderIndex, indexImageHolders, type Worker } from '@gyoza/domain';
import type { Store } from '@gyoza/store';

/**
 * This process's view of which active workers hold which images, for claims: read from the
 * store at most every `refreshMs` (one read shared by concurrent claims), and marked stale
 * at once when a heartbeat through this process lists images that differ from it. A claim
 * therefore costs no read of the workers; other processes' heartbeats are seen within
 * `refreshMs`, which only delays a preference, never a run (the wait is bounded).
 */
export class ImageHolderCache {
  private index: ImageHolderIndex = new Map();
  /** Images per worker as last read, to notice a heartbeat that changes them. */
  private listed = new Map<string, readonly string[]>();
  private readAtMs = Number.NEGATIVE_INFINITY;
  private reading?: Promise<ImageHolderIndex>;
  /** Bumped when a heartbeat changes images, so a read that began before it does not count as fresh. */
  private changes = 0;

  constructor(
    private readonly store: Store,
    private readonly refreshMs = 2000,
    private readonly onError: (error: unknown) => void = () => undefined,
  ) {}

  /** The index, read again when older than `refreshMs`; the last one (or none) if the read fails. */
  current(): Promise<ImageHolderIndex> {
    if (performance.now() - this.readAtMs < this.refreshMs) return Promise.resolve(this.index);
    this.reading ??= this.read().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  /** A worker as a heartbeat stored it: the next claim reads again if its images changed. */
  noteWorker(worker: Worker): void {
    const before = this.listed.get(worker.id) ?? [];
    const now = worker.status === 'active' ? (worker.images ?? []) : [];
    if (now.length !== before.length || now.some((ref, i) => ref !== before[i])) {
      this.readAtMs = Number.NEGATIVE_INFINITY;
      this.changes += 1;
    }
  }

  private async read(): Promise<ImageHolderIndex> {
    const changes = this.changes;
    const startedMs = performance.now();
    try {
      const workers = await this.store.workers.listWorkers('active');
      this.listed = new Map(workers.map((w) => [w.id, w.images ?? []]));
      this.index = indexImageHolders(workers);
      if (changes === this.changes) this.readAtMs = startedMs;
    } catch (error) {
      this.onError(error);
    }
    return this.index;
  }
}
