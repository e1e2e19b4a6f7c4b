/**
 * The worker agent's life: `created` -> `starting` (orphaned containers removed, registered
 * by a first heartbeat) -> `running` (heartbeats, claims, runs) -> `draining` (no more
 * claims; runs finish or are stopped and reported) -> `stopped`.
 */
export const AGENT_STATES = ['created', 'starting', 'running', 'draining', 'stopped'] as const;
export type AgentState = (typeof AGENT_STATES)[number];

/** The states each state may be entered from. */
const ALLOWED_FROM: Record<AgentState, readonly AgentState[]> = {
  created: [],
  starting: ['created'],
  running: ['starting'],
  // stop() while starting: the start gives up after its current step.
  draining: ['starting', 'running'],
  // stop() before start(), or a start that failed.
  stopped: ['created', 'starting', 'draining'],
};

/**
 * A state change the agent refuses, e.g. start() after stop(). It never reaches the API,
 * so it is not one of the coded errors the API maps to an HTTP status.
 */
export class AgentStateError extends Error {
  constructor(
    readonly from: AgentState,
    readonly to: AgentState,
  ) {
    super(
      to === 'starting'
        ? `the worker agent is ${from}: an agent starts once, create a new one`
        : `the worker agent cannot go from ${from} to ${to}`,
    );
    this.name = 'AgentStateError';
  }
}

/** Throws {@link AgentStateError} unless the agent may go from `from` to `to`. */
export function checkAgentMove(from: AgentState, to: AgentState): void {
  if (!ALLOWED_FROM[to].includes(from)) throw new AgentStateError(from, to);
}
