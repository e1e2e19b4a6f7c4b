export { type RunningWorker, startWorker, WorkerAgent, type WorkerOptions } from './agent';
export { AGENT_STATES, type AgentState, AgentStateError } from './agent-state';
export { ContainerRun, containerSpec, LABELS, type OpToRun, removeOrphans } from './container-run';
export { detectGpus, detectResources, parseGpus, parseNvidiaSmi, type WorkerResourcesInput } from './resources';
