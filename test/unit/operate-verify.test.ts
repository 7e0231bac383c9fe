import { describe, expect, it } from 'vitest';
import type { ContainerInfo } from '../../src/model/container.js';
import type { DesiredState } from '../../src/model/desired-state.js';
import { type VerifyInputs, verifyLive } from '../../src/operate/verify.js';
import { container, plan, row, rowsFor, SETTINGS } from './support/operate-fixtures.js';

// `vipkeeper verify`: every HAProxy server backed by a running container at its address,
// every labelled running container served.

const web1 = container({ name: 'web-1' });
const web2 = container({ name: 'web-2' });
const applied = plan([web1, web2]);
const ENGINES = [{ name: 'local', ok: true, error: null }];

/** HAProxy as the agent left it (`applied`), the engines listing `fresh` now. */
function inputs(fresh: readonly ContainerInfo[], more: Partial<VerifyInputs> = {}): VerifyInputs {
  return {
    rows: rowsFor(applied),
    fresh,
    engines: ENGINES,
    expected: plan(fresh),
    applied,
    leaving: [],
    settings: SETTINGS,
    defaultEngine: 'local',
    ...more,
  };
}

describe('verifyLive', () => {
  it('a single-class service: both HAProxy lines of each container (NAME, NAME:backup) are backed by it', () => {
    const single = { 'vipkeeper.class': 'single' };
    const v1 = container({ name: 'v1', labels: { ...web1.labels, ...single } });
    const v2 = container({ name: 'v2', labels: { ...web1.labels, ...single } });
    const state = plan([v1, v2]);
    expect(state.services[0]!.memberClass).toBe('single');
    const a = verifyLive(inputs([v1, v2], { applied: state, expected: state, rows: rowsFor(state) }));
    expect(a.unbacked).toEqual([]);
    expect(a.unserved).toEqual([]);
    expect(a.ok).toBe(true);
  });

  it('agrees when every server has its running container and every container its server', () => {
    expect(verifyLive(inputs([web1, web2]))).toEqual({ ok: true, engines: ENGINES, servers: 2, containers: 2, unbacked: [], unserved: [] });
  });

  it('catches a server added by hand over the Runtime API, with nothing behind it', () => {
    const a = verifyLive(inputs([web1, web2], { rows: [...rowsFor(applied), row('be_apps', 'x', '127.0.0.1', 9, { adminState: 0x01, opState: 0 })] }));
    expect(a.ok).toBe(false);
    expect(a.unbacked).toEqual([
      { backend: 'be_apps', server: 'x', address: '127.0.0.1:9', admin: 'maint', container: null, reason: 'no container behind it: vipkeeper did not put it there (added by hand over the Runtime API?)' },
    ]);
    expect(a.unserved).toEqual([]);
  });

  it('catches a server whose container stopped or was removed since the last pass', () => {
    const a = verifyLive(inputs([web1, { ...web2, running: false }]));
    expect(a.unbacked.map((u) => [u.server, u.reason])).toEqual([['web-2', 'its container web-2 is not running']]);
    const gone = verifyLive(inputs([web1]));
    expect(gone.unbacked.map((u) => u.reason)).toEqual([`its container web-2 (${web2.id.slice(0, 12)}) is gone`]);
  });

  it('says when the agent is already removing such a server', () => {
    const a = verifyLive(inputs([web1], { leaving: [{ backend: 'be_apps', server: 'web-2' }] }));
    expect(a.unbacked[0]!.reason).toMatch(/is gone \(the agent is removing it: drained, deleted once its connections end\)$/);
  });

  it('catches a server that sends to an address its container is not at', () => {
    const rows = rowsFor(applied).map((r) => (r.server === 'web-1' ? { ...r, port: 1 } : r));
    const a = verifyLive(inputs([web1, web2], { rows }));
    expect(a.unbacked).toEqual([expect.objectContaining({ server: 'web-1', address: '127.0.0.1:1', container: expect.objectContaining({ name: 'web-1' }), reason: expect.stringMatching(/^HAProxy sends to 127\.0\.0\.1:1, but its container web-1 is at 127\.0\.0\.1:\d+ now$/) })]);
    expect(a.unserved).toEqual([expect.objectContaining({ container: expect.objectContaining({ name: 'web-1' }), reason: expect.stringMatching(/^HAProxy's be_apps\/web-1 sends to 127\.0\.0\.1:1, not to its address/) })]);
  });

  it('catches a labelled running container HAProxy has no server for', () => {
    const web3 = container({ name: 'web-3' });
    const a = verifyLive(inputs([web1, web2, web3]));
    expect(a).toMatchObject({ ok: false, containers: 3, unbacked: [] });
    expect(a.unserved).toEqual([{ container: { id: web3.id.slice(0, 12), name: 'web-3', engine: 'local' }, service: 'apps', reason: 'HAProxy has no server be_apps/web-3 for it' }]);
  });

  it('lists a labelled running container the plan skips (a rejected label), with the reason', () => {
    const evil = container({ name: 'evil', extraLabels: { 'vipkeeper.weight': 'lots' } });
    const a = verifyLive(inputs([web1, web2, evil]));
    expect(a.unserved).toEqual([expect.objectContaining({ container: expect.objectContaining({ name: 'evil' }), service: null, reason: expect.stringMatching(/^not served: a label is rejected: label vipkeeper\.weight=/) })]);
  });

  it("prefers the agent's own reason for leaving a container out (a frontend port it cannot use)", () => {
    const withPort: DesiredState = { ...applied, services: [], skipped: [{ containerId: web1.id, containerName: 'web-1', reason: 'service apps cannot listen on frontend port 80: in use', problems: [] }] };
    const a = verifyLive(inputs([web1], { applied: withPort, rows: [] }));
    expect(a.unserved.map((u) => u.reason)).toEqual(['not served: service apps cannot listen on frontend port 80: in use']);
  });

  it('ignores stopped, unlabelled and one-off containers: they are not to be served', () => {
    const stopped = container({ name: 'web-9', running: false });
    const bare = container({ name: 'bare', labels: {} });
    const oneoff = container({ name: 'run-1', extraLabels: { 'com.docker.compose.oneoff': 'True' } });
    expect(verifyLive(inputs([web1, web2, stopped, bare, oneoff])).ok).toBe(true);
  });

  it("ignores backends that are not vipkeeper's (a template's own)", () => {
    const a = verifyLive(inputs([web1, web2], { rows: [...rowsFor(applied), row('be_static', 'files', '10.0.0.1', 80)] }));
    expect(a).toMatchObject({ ok: true, servers: 2 });
  });

  it('cannot agree while an engine does not answer, and says so for the servers on it', () => {
    const far = container({ name: 'web-9', engine: 'host2' });
    const two = plan([web1, far]);
    const engines = [{ name: 'local', ok: true, error: null }, { name: 'host2', ok: false, error: 'connect EHOSTUNREACH' }];
    const a = verifyLive({ ...inputs([web1], { engines, applied: two, rows: rowsFor(two) }), defaultEngine: null });
    expect(a.ok).toBe(false);
    expect(a.unbacked.map((u) => u.reason)).toEqual(['its container web-9 is on engine host2, which does not answer']);
  });

  it('a container Docker is stopping is not served any more, and its server says why', () => {
    const a = verifyLive(inputs([web1, web2], { expected: plan([web1, web2], { stopping: new Set([web2.id]) }) }));
    expect(a.unbacked.map((u) => u.reason)).toEqual(['its container web-2 is not served any more: Docker is stopping it: drained, requests in flight finish, no new ones']);
    expect(a.unserved.map((u) => u.reason)).toEqual(['not served: Docker is stopping it: drained, requests in flight finish, no new ones']);
  });
});
