export { type RunningWorker, startWorker, type WorkerOptions } from './agent';
export { ContainerRun, LABELS, type OpToRun, removeOrphans } from './container-run';
export { detectGpus, detectResources, parseGpus, type WorkerResourcesInput } from './resources';
