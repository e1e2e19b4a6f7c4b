import { AGENT_STATES, type AgentState, AgentStateError, checkAgentMove } from './agent-state';

// The allowed moves, restated here rather than read from the table they check.
const ALLOWED: ReadonlyArray<[AgentState, AgentState]> = [
  ['created', 'starting'],
  ['created', 'stopped'],
  ['starting', 'running'],
  ['starting', 'draining'],
  ['starting', 'stopped'],
  ['running', 'draining'],
  ['draining', 'stopped'],
];

describe('checkAgentMove', () => {
  for (const from of AGENT_STATES) {
    for (const to of AGENT_STATES) {
      const allowed = ALLOWED.some(([f, t]) => f === from && t === to);
      it(`${allowed ? 'allows' : 'refuses'} ${from} -> ${to}`, () => {
        if (allowed) expect(() => checkAgentMove(from, to)).not.toThrow();
        else expect(() => checkAgentMove(from, to)).toThrow(new AgentStateError(from, to));
      });
    }
  }

  it('says what to do when a used agent is started again', () => {
    expect(new AgentStateError('stopped', 'starting').message).toBe(
      'the worker agent is stopped: an agent starts once, create a new one',
    );
  });
});
