import { describe, expect, it } from 'vitest';
import { diffServices, isEmpty } from '../../src/haproxy/server-changes.js';
import { buildDesiredState } from '../../src/model/desired-state.js';
import { container, SETTINGS } from './fixtures.js';

// Which changes the Runtime API may apply without a reload, and which need one.

const services = (...cs: Parameters<typeof container>[0][]) => buildDesiredState(cs.map(container), SETTINGS).services;

describe('diffServices', () => {
  const web1 = { name: 'web1' };
  const web2 = { name: 'web2' };

  it.each([
    ['nothing changed', [web1, web2], [web1, web2], { structural: null, add: [], remove: [], update: [] }],
    ['a server added', [web1], [web1, web2], { structural: null, add: ['web2'], remove: [], update: [] }],
    ['a server removed', [web1, web2], [web1], { structural: null, add: [], remove: ['web2'], update: [] }],
    ['the last server removed', [web1], [], { structural: null, add: [], remove: ['web1'], update: [] }],
    [
      'a server on a new port (a restarted container)',
      [web1],
      [{ name: 'web1', bindings: [{ privatePort: 80, protocol: 'tcp' as const, hostIp: '0.0.0.0', hostPort: 41000 }] }],
      { structural: null, add: [], remove: [], update: ['web1'] },
    ],
    ['a weight changed', [web1], [{ ...web1, extraLabels: { 'vipkeeper.weight': '10' } }], { structural: null, add: [], remove: [], update: ['web1'] }],
    ['a new service', [web1], [web1, { name: 'api', extraLabels: { 'vipkeeper.service': 'api', 'vipkeeper.frontend.port': '81' } }], { structural: 'service api added' }],
    ['a service setting changed', [web1], [{ ...web1, extraLabels: { 'vipkeeper.balance': 'leastconn' } }], { structural: 'service apps changed its settings' }],
    ['a check changed', [web1], [{ ...web1, extraLabels: { 'vipkeeper.check.path': '/health' } }], { structural: 'service apps changed its settings' }],
  ])('%s', (_name, before, after, expected) => {
    const c = diffServices(services(...before), services(...after));
    if (expected.structural) {
      expect(c.structural).toBe(expected.structural);
      return;
    }
    expect({
      structural: c.structural,
      add: c.add.map((a) => a.server.name),
      remove: c.remove.map((a) => a.server.name),
      update: c.update.map((a) => a.after.name),
    }).toEqual(expected);
    expect(isEmpty(c)).toBe(_name === 'nothing changed');
  });
});

describe('containers Docker is stopping', () => {
  it('are skipped with a drain reason while the others stay', () => {
    const stopping = container({ name: 'leaving' });
    const state = buildDesiredState([container({ name: 'staying' }), stopping], SETTINGS, { stopping: new Set([stopping.id]) });
    expect(state.services[0]!.servers.map((s) => s.name)).toEqual(['staying']);
    expect(state.skipped).toEqual([expect.objectContaining({ containerName: 'leaving', reason: expect.stringContaining('stopping') })]);
  });
});
