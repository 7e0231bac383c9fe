import { describe, expect, it } from 'vitest';
import { agentEdges, type AgentOptions } from '../../src/agent/agent-edges.js';
import { parseEnvironment } from '../../src/config/env.js';
import { EngineLink } from '../../src/docker/engine-link.js';
import { ConfigStore } from '../../src/files/config-store.js';
import { HaproxyProcess } from '../../src/haproxy/haproxy-process.js';
import { RuntimeClient } from '../../src/haproxy/runtime-client.js';
import { KeepalivedProcess } from '../../src/keepalived/keepalived-process.js';
import { FACTS, MINIMAL_ENV } from './fixtures.js';
import { FakeClock, FakeRuntimeApi, silentLog } from './support/fakes.js';

// An edge a test hands the agent is the one it uses; every other one is the
// real one, made from the config (nothing is started or connected by making it).

const config = parseEnvironment({ ...MINIMAL_ENV, VIPKEEPER_DOCKER_HOSTS: 'unix:///a.sock,unix:///b.sock' }, FACTS).config;
const base: AgentOptions = { config, env: MINIMAL_ENV, facts: FACTS, log: silentLog() };

describe('agentEdges', () => {
  it('without edges given, the real ones on the config: one link per engine, the admin socket of the run dir', () => {
    const e = agentEdges(base);
    expect(e.store).toBeInstanceOf(ConfigStore);
    expect(e.haproxy).toBeInstanceOf(HaproxyProcess);
    expect(e.keepalived).toBeInstanceOf(KeepalivedProcess);
    expect(e.api).toBeInstanceOf(RuntimeClient);
    expect(e.links.map((l) => [l instanceof EngineLink, l.name])).toEqual(config.engines.map((c) => [true, c.name]));
    expect(e.links).toHaveLength(2);
    expect(e.clock.now()).toBeGreaterThan(0);
    expect(typeof e.validator).toBe('function');
    (e.api as RuntimeClient).close();
  });

  it('edges given are used as they are', () => {
    const api = new FakeRuntimeApi();
    const clock = new FakeClock();
    const validator = async () => undefined;
    const links: EngineLink[] = [];
    const e = agentEdges({ ...base, api, clock, validator, links });
    expect(e.api).toBe(api);
    expect(e.clock).toBe(clock);
    expect(e.validator).toBe(validator);
    expect(e.links).toBe(links);
  });
});
