export {
  AGENT_STATES,
  type AgentState,
  AgentStateError,
  type RunningWorker,
  startWorker,
  WorkerAgent,
  type WorkerOptions,
} from './agent';
export { ContainerRun, containerSpec, LABELS, type OpToRun, removeOrphans } from './container-run';
export { detectGpus, detectResources, parseGpus, parseNvidiaSmi, type WorkerResourcesInput } from './resources';
