import { afterAll, beforeAll } from 'vitest';
import { AgentUnderTest } from './agent.js';
import { removeTestContainers } from './lab.js';

// Set-up shared by lab test files (kept apart from agent.ts, which the benches import
// outside vitest).

/**
 * One agent for a describe block: no test container left from before, the agent started and
 * its first pass seen before the block's tests; stopped, and the test containers removed,
 * after them (also when a test failed). Call it in the block's body; the getter gives the agent.
 */
export function agentForBlock(env: Record<string, string> = {}): () => AgentUnderTest {
  let agent: AgentUnderTest | undefined;
  beforeAll(async () => {
    await removeTestContainers();
    agent = new AgentUnderTest(env);
    agent.start();
    await agent.waitLog('the initial pass', (l) => l.msg === 'pass');
  });
  afterAll(async () => {
    await agent?.stop();
    await removeTestContainers();
  });
  return () => agent!;
}
