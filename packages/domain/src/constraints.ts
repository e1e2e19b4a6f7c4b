import { type FieldIssue, ValidationError } from './errors';

/** What a run needs from a worker. Every field is optional on input; see `normalizeConstraints`. */
export interface Constraints {
  cpu_cores: number;
  ram_mb: number;
  /** VRAM needed on each assigned GPU. */
  vram_mb: number;
  gpu_count: number;
  /** Every assigned GPU carries all of these. */
  gpu_tags: string[];
  /** The worker carries all of these. */
  worker_tags: string[];
  /** A RUNNING attempt older than this is failed by the server; 0 = no limit. */
  timeout_seconds: number;
  /**
   * Size of the container's /dev/shm (PyTorch data loaders need more than Docker's 64 MB).
   * Present only when set (a positive integer); absent: Docker's default.
   */
  shm_size_mb?: number;
}

export type ConstraintsInput = Partial<Constraints>;

export const NO_CONSTRAINTS: Readonly<Constraints> = Object.freeze({
  cpu_cores: 0,
  ram_mb: 0,
  vram_mb: 0,
  gpu_count: 0,
  gpu_tags: [],
  worker_tags: [],
  timeout_seconds: 0,
});

/** Fills defaults; `gpu_count` defaults to 1 when VRAM is asked for. */
export function normalizeConstraints(input: ConstraintsInput | undefined | null, field = 'constraints'): Constraints {
  if (input !== undefined && input !== null && (typeof input !== 'object' || Array.isArray(input)))
    throw ValidationError.field(field, 'must be an object');
  const c = input ?? {};
  const issues: FieldIssue[] = [];
  const num = (name: keyof Constraints, integer: boolean): number => {
    const value = c[name];
    if (value === undefined || value === null) return 0;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (integer && !Number.isInteger(value))) {
      issues.push({ field: `${field}.${name}`, message: `must be a non-negative ${integer ? 'integer' : 'number'}` });
      return 0;
    }
    return value;
  };
  const tags = (name: 'gpu_tags' | 'worker_tags'): string[] => {
    const value = c[name];
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value) || value.some((t) => typeof t !== 'string' || t.length === 0)) {
      issues.push({ field: `${field}.${name}`, message: 'must be an array of non-empty strings' });
      return [];
    }
    return [...new Set(value)];
  };
  const vram = num('vram_mb', true);
  const explicitGpus = c.gpu_count !== undefined && c.gpu_count !== null;
  const gpuCount = explicitGpus ? num('gpu_count', true) : vram > 0 ? 1 : 0;
  if (vram > 0 && explicitGpus && gpuCount === 0) {
    issues.push({ field: `${field}.gpu_count`, message: 'must be at least 1 when vram_mb is set' });
  }
  const result: Constraints = {
    cpu_cores: num('cpu_cores', false),
    ram_mb: num('ram_mb', true),
    vram_mb: vram,
    gpu_count: gpuCount,
    gpu_tags: tags('gpu_tags'),
    worker_tags: tags('worker_tags'),
    timeout_seconds: num('timeout_seconds', false),
  };
  const shm = num('shm_size_mb', true);
  if (shm > 0) result.shm_size_mb = shm;
  if (issues.length > 0) throw new ValidationError(`invalid ${field}`, issues);
  return result;
}

/** A request's constraint overrides on top of a definition's. */
export function mergeConstraints(base: Constraints, override: ConstraintsInput | undefined | null): Constraints {
  if (override === undefined || override === null) return base;
  if (typeof override !== 'object' || Array.isArray(override))
    throw ValidationError.field('constraints', 'must be an object');
  const merged: ConstraintsInput = { ...base };
  for (const [key, value] of Object.entries(override)) {
    if (value !== undefined && value !== null) (merged as Record<string, unknown>)[key] = value;
  }
  // gpu_count is re-derived unless either side set it explicitly.
  if (override.gpu_count === undefined && override.vram_mb !== undefined && base.gpu_count === 0)
    delete merged.gpu_count;
  return normalizeConstraints(merged);
}
