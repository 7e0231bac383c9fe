import { describe, expect, it } from 'vitest';
import { adminState, buildInventory, type InventoryInputs, liveHealth } from '../../src/operate/inventory.js';
import type { AdminNote } from '../../src/operate/operate-types.js';
import { container, plan, row, rowsFor } from './support/operate-fixtures.js';

// `vipkeeper show`'s data: the applied state joined with HAProxy's rows, and who set a drain or maint.

const web1 = container({ name: 'web-1' });
const web2 = container({ name: 'web-2', extraLabels: { 'vipkeeper.weight': '5' } });
const api1 = container({ name: 'api-1', extraLabels: { 'vipkeeper.service': 'api', 'vipkeeper.frontend.port': '8080', 'vipkeeper.check': 'false' } });
const state = plan([web1, web2, api1]);
const base: InventoryInputs = { services: state.services, rows: rowsFor(state), stopping: new Set(), leaving: [], defaultEngine: 'local' };
const server = (i: InventoryInputs, service: string, name: string) => buildInventory(i).find((s) => s.name === service)!.servers.find((x) => x.name === name)!;

describe('HAProxy state words', () => {
  it.each([
    [0, 'ready'],
    [0x01, 'maint'],
    [0x02, 'maint'],
    // Disabled in the file, enabled since over the Runtime API: HAProxy keeps the bit until a reload and serves it.
    [0x04, 'ready'],
    [0x05, 'maint'],
    [0x20, 'maint'],
    [0x08, 'drain'],
    [0x10, 'drain'],
    [0x09, 'maint'],
  ] as const)('admin bits %i read as %s', (bits, word) => {
    expect(adminState(row('be_apps', 'x', '1.2.3.4', 80, { adminState: bits }))).toBe(word);
  });

  it.each([
    [0, 'down'],
    [1, 'starting'],
    [2, 'up'],
    [3, 'stopping'],
  ] as const)('op state %i reads as %s', (op, word) => {
    expect(liveHealth(row('be_apps', 'x', '1.2.3.4', 80, { opState: op }))).toBe(word);
  });

  it('a server HAProxy lacks is absent and ready', () => {
    expect(liveHealth(undefined)).toBe('absent');
    expect(adminState(undefined)).toBe('ready');
  });
});

describe('buildInventory', () => {
  it('lists every service with its frontend and every server with its container, address, weight and HAProxy view', () => {
    const inv = buildInventory(base);
    expect(inv.map((s) => [s.name, s.backend, s.frontend.port, s.mode])).toEqual([
      ['api', 'be_api', 8080, 'http'],
      ['apps', 'be_apps', 80, 'http'],
    ]);
    const w2 = server(base, 'apps', 'web-2');
    expect(w2).toEqual({
      name: 'web-2',
      container: { id: web2.id.slice(0, 12), name: 'web-2', engine: 'local' },
      address: `127.0.0.1:${web2.bindings[0]!.hostPort}`,
      weight: 5,
      health: 'up',
      checked: true,
      admin: 'ready',
      adminSource: null,
      adminReason: null,
      role: 'active',
    });
    expect(server(base, 'api', 'api-1').checked).toBe(false);
  });

  it("shows HAProxy's address and weight, not the plan's, when they differ", () => {
    const rows = rowsFor(state).map((r) => (r.server === 'web-1' ? { ...r, address: '10.9.9.9', port: 9, weight: 7 } : r));
    expect(server({ ...base, rows }, 'apps', 'web-1')).toMatchObject({ address: '10.9.9.9:9', weight: 7 });
  });

  it('a server HAProxy does not have yet is absent, at its planned address', () => {
    const rows = rowsFor(state).filter((r) => r.server !== 'web-1');
    expect(server({ ...base, rows }, 'apps', 'web-1')).toMatchObject({ health: 'absent', admin: 'ready', address: `127.0.0.1:${web1.bindings[0]!.hostPort}` });
  });

  it('a container Docker is stopping was drained by Docker', () => {
    const rows = rowsFor(state).map((r) => (r.server === 'web-1' ? { ...r, adminState: 0x08 } : r));
    expect(server({ ...base, rows, stopping: new Set([web1.id]) }, 'apps', 'web-1')).toMatchObject({
      admin: 'drain',
      adminSource: 'docker',
      adminReason: expect.stringContaining('Docker is stopping'),
    });
  });

  it('a drain or maint nobody in vipkeeper set is "other"', () => {
    const rows = rowsFor(state).map((r) => (r.server === 'web-1' ? { ...r, adminState: 0x01 } : r));
    expect(server({ ...base, rows }, 'apps', 'web-1')).toMatchObject({ admin: 'maint', adminSource: 'other' });
  });

  it('a note (operator, member class) says who set it, and wins', () => {
    const rows = rowsFor(state).map((r) => (r.server === 'web-1' ? { ...r, adminState: 0x01 } : r));
    const notes = new Map<string, AdminNote>([['be_apps/web-1', { source: 'operator', reason: 'disk swap' }]]);
    expect(server({ ...base, rows, notes, stopping: new Set([web1.id]) }, 'apps', 'web-1')).toMatchObject({
      admin: 'maint',
      adminSource: 'operator',
      adminReason: 'disk swap',
    });
  });

  it("the plan's own admin source (vipkeeper disable) says who set it", () => {
    const disabled = plan([web1, web2, api1], { operator: new Map([[web1.id, { admin: 'maint' as const, reason: 'disk full' }]]) });
    const rows = rowsFor(disabled).map((r) => (r.server === 'web-1' ? { ...r, adminState: 0x05 } : r));
    expect(server({ ...base, services: disabled.services, rows }, 'apps', 'web-1')).toMatchObject({ admin: 'maint', adminSource: 'operator', adminReason: 'disk full' });
  });

  it('a ready server names no source, whatever the notes say', () => {
    const notes = new Map<string, AdminNote>([['be_apps/web-1', { source: 'operator', reason: 'stale' }]]);
    expect(server({ ...base, notes }, 'apps', 'web-1')).toMatchObject({ admin: 'ready', adminSource: null, adminReason: null });
  });

  it('roles come from the member class; active otherwise', () => {
    const roles = new Map([['be_apps/web-1', 'backup' as const]]);
    expect(server({ ...base, roles }, 'apps', 'web-1').role).toBe('backup');
    expect(server({ ...base, roles }, 'apps', 'web-2').role).toBe('active');
  });

  it("lists HAProxy's servers the plan lacks: one being removed (Docker) and one added by hand (other), with no container", () => {
    const rows = [...rowsFor(state), row('be_apps', 'old-1', '127.0.0.1', 31000, { adminState: 0x09 }), row('be_apps', 'x', '127.0.0.1', 9, { adminState: 0x01, opState: 0 })];
    const apps = buildInventory({ ...base, rows, leaving: [{ backend: 'be_apps', server: 'old-1' }] }).find((s) => s.name === 'apps')!;
    expect(apps.servers.map((x) => x.name)).toEqual(['old-1', 'web-1', 'web-2', 'x']);
    expect(apps.servers[0]).toMatchObject({ container: null, admin: 'maint', adminSource: 'docker', adminReason: expect.stringContaining('removed once its connections end') });
    expect(apps.servers[3]).toMatchObject({ container: null, address: '127.0.0.1:9', health: 'down', admin: 'maint', adminSource: 'other' });
  });

  it('names the engine a qualified server runs on; a single engine is the default', () => {
    const far = container({ name: 'web-9', engine: 'host2' });
    const s = plan([web1, far]);
    const inv = buildInventory({ ...base, services: s.services, rows: rowsFor(s), defaultEngine: null });
    expect(inv[0]!.servers.map((x) => [x.name, x.container?.engine])).toEqual([
      ['host2_web-9', 'host2'],
      ['web-1', null],
    ]);
  });

  it('a service with no servers is listed with none', () => {
    const empty = plan([]);
    expect(buildInventory({ ...base, services: empty.services, rows: [] })).toEqual([
      expect.objectContaining({ name: 'apps', servers: [] }),
    ]);
  });
});
