/**
 * The worker agent: `startWorker(options)` / `WorkerAgent` (heartbeat, claim, run containers,
 * report; its states in `AGENT_STATES`), the container side (`ContainerRun`, `containerSpec`,
 * `removeOrphans`, `LABELS`), images (`ImagePuller`, `ImagePullError`, `EngineUnreachableError`,
 * `RegistryAuth`), its options (`WorkerOptions`, refused with a `WorkerOptionError`) and resource
 * detection (`detectResources`, `detectGpus`, `parseGpus`, `parseNvidiaSmi`).
 */
export { startWorker, WorkerAgent } from './agent';
export { AGENT_STATES, type AgentState, AgentStateError } from './agent-state';
export {
  type ContainerHardening,
  ContainerRun,
  containerSpec,
  HARDENING_DEFAULTS,
  LABELS,
  type OpToRun,
  removeOrphans,
} from './container-run';
export {
  EngineUnreachableError,
  ImagePullError,
  ImagePuller,
  PULL_POLICIES,
  type PullPolicy,
  type PullProgress,
} from './image-puller';
export { RegistryAuth, type RegistryCredentials, registryOf } from './registry-auth';
export { detectGpus, detectResources, parseGpus, parseNvidiaSmi, type WorkerResourcesInput } from './resources';
export { type RunningWorker, WorkerOptionError, type WorkerOptions } from './worker-options';
