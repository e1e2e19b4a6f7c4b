import {
  type FreeCapacity,
  freeCapacity,
  hasAllTags,
  type OpRun,
  overCommitsNothingItTakes,
  type Reservation,
  reservationOf,
  reserve,
  type Worker,
} from '@gyoza/domain';
import type { ClaimChoice, ClaimRequest } from './ports';
import { shapeFits } from './shape';

/** A run a claim may assign, and the GPUs it gets. */
export interface AcceptedClaim {
  run: OpRun;
  gpu_ids: number[];
}

/**
 * The adapters' last line of defence around a planner: keeps only choices that are real
 * candidates, not chosen twice, within the limit, on matching tags, and that over-commit no CPU,
 * RAM or GPU they take, given what the worker already holds.
 */
export function checkClaimChoices(
  worker: Worker,
  reservations: readonly Reservation[],
  candidates: readonly OpRun[],
  choices: readonly ClaimChoice[],
  limit: number,
): AcceptedClaim[] {
  const byId = new Map(candidates.map((run) => [run.id, run]));
  const gpuTags = new Map(worker.resources.gpus.map((g) => [g.id, g.tags]));
  let free = freeCapacity(worker, reservations);
  const accepted: AcceptedClaim[] = [];
  for (const choice of choices) {
    if (accepted.length >= limit) break;
    const run = byId.get(choice.run_id);
    if (!run) continue;
    byId.delete(choice.run_id);
    const gpus = [...new Set(choice.gpu_ids)];
    if (!hasAllTags(worker.tags, run.constraints.worker_tags)) continue;
    if (gpus.length !== run.constraints.gpu_count) continue;
    if (gpus.some((id) => !hasAllTags(gpuTags.get(id) ?? [], run.constraints.gpu_tags) || !gpuTags.has(id))) continue;
    const reservation = reservationOf(run.id, run.constraints, gpus);
    const next = reserve(free, reservation);
    if (!overCommitsNothingItTakes(next, reservation)) continue;
    free = next;
    accepted.push({ run, gpu_ids: gpus });
  }
  return accepted;
}

/**
 * What the worker holds, as a claim reads it: `totals` for its free capacity (one entry per
 * run, or `totalsAsReservations` from totals an adapter keeps), `list` per run, read only if
 * the planner asks for `ClaimContext.reservations`.
 */
export interface HeldReservations {
  totals: Reservation[];
  list(): Reservation[];
}

/** At most this many candidates are read per claim unless the request says otherwise. */
export const DEFAULT_CLAIM_SCAN = 500;

/**
 * Candidates are read in small pages, so a claim costs about its limit, not the backlog;
 * the next page is read only when the planner could not fill the limit from the first.
 */
export function claimPageSize(limit: number): number {
  return Math.max(limit * 2, 16);
}

/** Whether a claim should read another page of candidates. */
export function wantsMoreCandidates(
  choices: number,
  limit: number,
  pageLength: number,
  pageSize: number,
  read: number,
  scan: number,
): boolean {
  return choices < limit && pageLength === pageSize && read < scan;
}

/** Upper bounds a candidate's constraints must be within to have any chance on the worker. */
export interface CandidateBounds {
  cpu_milli: number;
  ram_mb: number;
  gpu_count: number;
  vram_mb: number;
}

export function candidateBounds(free: FreeCapacity): CandidateBounds {
  return {
    cpu_milli: Math.round(free.cpu_cores * 1000),
    ram_mb: free.ram_mb,
    gpu_count: free.gpus.length,
    vram_mb: Math.max(0, ...free.gpus.map((g) => g.free_vram_mb)),
  };
}

/** The page of pending candidates a claim wants next, in claim order. */
export interface CandidatePageRequest {
  /** Runs whose constraints exceed these cannot fit and are skipped by the query. */
  bounds: CandidateBounds;
  /**
   * Whether runs of a demand shape (`shapeKey`) can fit the worker's free capacity: an adapter
   * that groups pending runs by shape reads only the groups for which this is true.
   */
  fits(shape: string): boolean;
  /** The last candidate read so far: the page starts after it (keyset); none for the first page. */
  after: OpRun | undefined;
  size: number;
}

/**
 * The claim paging loop: asks for pages of candidates until the planner fills the limit, a
 * page comes back short or `scan` candidates have been read, then checks the planner's
 * choices. It yields each page request and is resumed with that page, so that the same loop
 * serves an adapter that reads synchronously inside a transaction (SQLite) and one that awaits
 * its reads (MongoDB).
 */
function* claimPaging(
  worker: Worker,
  held: HeldReservations,
  request: ClaimRequest,
): Generator<CandidatePageRequest, AcceptedClaim[], OpRun[]> {
  const free = freeCapacity(worker, held.totals);
  const bounds = candidateBounds(free);
  const fits = (shape: string) => shapeFits(shape, worker, free);
  const scan = request.scan ?? DEFAULT_CLAIM_SCAN;
  const size = claimPageSize(request.limit);
  const candidates: OpRun[] = [];
  let choices: ClaimChoice[] = [];
  for (;;) {
    const page = yield { bounds, fits, after: candidates.at(-1), size: Math.min(size, scan - candidates.length) };
    candidates.push(...page);
    if (candidates.length === 0) return [];
    let listed: Reservation[] | undefined;
    choices = request.plan({
      worker,
      reserved: held.totals,
      get reservations() {
        listed ??= held.list();
        return listed;
      },
      candidates,
      limit: request.limit,
      locality: request.locality,
    });
    if (!wantsMoreCandidates(choices.length, request.limit, page.length, size, candidates.length, scan)) break;
  }
  return checkClaimChoices(worker, held.totals, candidates, choices, request.limit);
}

/**
 * What a claim assigns: pages of candidates read with `readPage`, planned by `request.plan`
 * and checked. For an adapter whose reads are synchronous (inside one transaction).
 */
export function planClaim(
  worker: Worker,
  held: HeldReservations,
  request: ClaimRequest,
  readPage: (page: CandidatePageRequest) => OpRun[],
): AcceptedClaim[] {
  const steps = claimPaging(worker, held, request);
  let step = steps.next();
  while (!step.done) step = steps.next(readPage(step.value));
  return step.value;
}

/** `planClaim` for an adapter whose reads are asynchronous. */
export async function planClaimAsync(
  worker: Worker,
  held: HeldReservations,
  request: ClaimRequest,
  readPage: (page: CandidatePageRequest) => Promise<OpRun[]>,
): Promise<AcceptedClaim[]> {
  const steps = claimPaging(worker, held, request);
  let step = steps.next();
  while (!step.done) step = steps.next(await readPage(step.value));
  return step.value;
}
