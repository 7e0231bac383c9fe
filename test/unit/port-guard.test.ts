import { describe, expect, it } from 'vitest';
import { PortGuard, type PortProbe } from '../../src/haproxy/port-guard.js';
import { buildDesiredState } from '../../src/model/desired-state.js';
import { withoutPorts } from '../../src/pipeline.js';
import { container, SETTINGS } from './fixtures.js';

// A service may only take a frontend port nobody else holds: never one of
// vipkeeper's own, never one another process listens on. Ports HAProxy already
// listens on are ours and are never probed (the probe would find them busy).

const RESERVED = new Map([
  [9000, 'the status address (VIPKEEPER_STATUS_ADDRESS)'],
  [8404, 'the HAProxy stats port'],
]);

/** A probe that answers from a set of busy ports and records what it was asked. */
function fakeProbe(busy: Set<number>): PortProbe & { asked: number[] } {
  const asked: number[] = [];
  const probe = async (port: number) => {
    asked.push(port);
    return !busy.has(port);
  };
  return Object.assign(probe, { asked });
}

describe('PortGuard', () => {
  it('reserved ports are always unavailable, with what they are, live or not, without a probe', async () => {
    const probe = fakeProbe(new Set());
    const guard = new PortGuard(RESERVED, probe);
    const out = await guard.unavailable([9000, 8404], new Set([9000]));
    expect(out).toEqual(
      new Map([
        [9000, 'it is the status address (VIPKEEPER_STATUS_ADDRESS)'],
        [8404, 'it is the HAProxy stats port'],
      ]),
    );
    expect(probe.asked).toEqual([]);
  });

  it('a port HAProxy already listens on is never probed and is available', async () => {
    const probe = fakeProbe(new Set([80, 443])); // the probe would say busy: HAProxy itself holds them
    const guard = new PortGuard(RESERVED, probe);
    expect(await guard.unavailable([80, 443], new Set([80, 443]))).toEqual(new Map());
    expect(probe.asked).toEqual([]);
  });

  it('a port another process holds is unavailable; a free one is available', async () => {
    const probe = fakeProbe(new Set([8080]));
    const guard = new PortGuard(RESERVED, probe);
    const out = await guard.unavailable([8080, 8081], new Set());
    expect(out).toEqual(new Map([[8080, 'another process on this host already listens on it']]));
    expect(probe.asked.sort()).toEqual([8080, 8081]);
  });

  it('probes each wanted port once, however often it is wanted', async () => {
    const probe = fakeProbe(new Set());
    const guard = new PortGuard(RESERVED, probe);
    await guard.unavailable([8080, 8080, 8080], new Set());
    expect(probe.asked).toEqual([8080]);
  });

  it("HAProxy's reason for a port it could not bind is given until the probe finds the port free", async () => {
    const busy = new Set([8080]);
    const guard = new PortGuard(RESERVED, fakeProbe(busy));
    const why = 'haproxy could not bind 0.0.0.0:8080 (Address already in use)';
    guard.noteUnbound([8080], why);
    expect(await guard.unavailable([8080], new Set())).toEqual(new Map([[8080, why]]));
    expect(await guard.unavailable([8080], new Set())).toEqual(new Map([[8080, why]]));

    busy.delete(8080); // the other process went away
    expect(await guard.unavailable([8080], new Set())).toEqual(new Map());

    busy.add(8080); // taken again later: HAProxy's old reason is forgotten
    expect(await guard.unavailable([8080], new Set())).toEqual(new Map([[8080, 'another process on this host already listens on it']]));
  });

  it('a noted port that HAProxy listens on by now is available', async () => {
    const probe = fakeProbe(new Set([8080]));
    const guard = new PortGuard(RESERVED, probe);
    guard.noteUnbound([8080], 'haproxy could not bind it');
    expect(await guard.unavailable([8080], new Set([8080]))).toEqual(new Map());
    expect(probe.asked).toEqual([]);
  });

  it('a reserved port keeps its own reason even when HAProxy also reported it', async () => {
    const guard = new PortGuard(RESERVED, fakeProbe(new Set()));
    guard.noteUnbound([9000], 'haproxy could not bind it');
    expect(await guard.unavailable([9000], new Set())).toEqual(new Map([[9000, 'it is the status address (VIPKEEPER_STATUS_ADDRESS)']]));
  });
});

describe('withoutPorts', () => {
  const state = buildDesiredState(
    [
      container({ name: 'web-1', extraLabels: { 'vipkeeper.service': 'web' } }),
      container({ name: 'web-2', extraLabels: { 'vipkeeper.service': 'web' } }),
      container({ name: 'api-1', extraLabels: { 'vipkeeper.service': 'api', 'vipkeeper.frontend.port': '8080' } }),
      container({ name: 'api-2', extraLabels: { 'vipkeeper.service': 'api', 'vipkeeper.frontend.port': '8080' } }),
      container({ name: 'db-1', extraLabels: { 'vipkeeper.service': 'db', 'vipkeeper.mode': 'tcp', 'vipkeeper.frontend.port': '5432' } }),
      container({ name: 'broken', extraLabels: { 'vipkeeper.weight': 'heavy' } }),
    ],
    SETTINGS,
  );

  it('starts from three services and one container skipped for its labels', () => {
    expect(state.services.map((s) => `${s.name}:${s.frontendPort}`)).toEqual(['api:8080', 'db:5432', 'web:80']);
    expect(state.skipped.map((s) => s.containerName)).toEqual(['broken']);
  });

  it('moves the services on an unavailable port into skipped, each container with a reason naming the service and port', () => {
    const out = withoutPorts(state, new Map([[8080, 'another process on this host already listens on it']]));
    expect(out.services.map((s) => s.name)).toEqual(['db', 'web']);
    expect(out.services).toEqual(state.services.filter((s) => s.name !== 'api'));
    const api = state.services.find((s) => s.name === 'api')!;
    expect(out.skipped.filter((s) => s.containerName.startsWith('api'))).toEqual(
      api.servers.map((x) => ({
        containerId: x.containerId,
        containerName: x.containerName,
        reason: 'service api cannot listen on frontend port 8080: another process on this host already listens on it',
        problems: [],
      })),
    );
  });

  it('keeps what was skipped before, sorted by container name', () => {
    const out = withoutPorts(state, new Map([[8080, 'busy'], [5432, 'it is the status address']]));
    expect(out.services.map((s) => s.name)).toEqual(['web']);
    expect(out.skipped.map((s) => s.containerName)).toEqual(['api-1', 'api-2', 'broken', 'db-1']);
    expect(out.skipped.find((s) => s.containerName === 'broken')).toEqual(state.skipped[0]);
    expect(out.skipped.find((s) => s.containerName === 'db-1')!.reason).toBe('service db cannot listen on frontend port 5432: it is the status address');
    expect(out.notices).toEqual(state.notices);
  });

  it('changes nothing when no port is unavailable, or none is used', () => {
    expect(withoutPorts(state, undefined)).toBe(state);
    expect(withoutPorts(state, new Map())).toBe(state);
    expect(withoutPorts(state, new Map([[1234, 'busy']]))).toEqual(state);
  });

  it('does not change the state it was given', () => {
    const before = structuredClone(state);
    withoutPorts(state, new Map([[80, 'busy']]));
    expect(state).toEqual(before);
  });
});
