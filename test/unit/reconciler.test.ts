import { beforeAll, describe, expect, it } from 'vitest';
import { boundPorts, Reconciler, type ReconcilerParts } from '../../src/agent/reconciler.js';
import { RetryPolicy } from '../../src/agent/retry-policy.js';
import { StopTracker } from '../../src/agent/stop-tracker.js';
import { parseEnvironment } from '../../src/config/env.js';
import { ConfigWriteError, TemplateError } from '../../src/errors.js';
import { HaproxyApplier } from '../../src/haproxy/haproxy-applier.js';
import { PortGuard } from '../../src/haproxy/port-guard.js';
import { KeepalivedApplier } from '../../src/keepalived/keepalived-applier.js';
import type { ContainerInfo } from '../../src/model/container.js';
import { desiredState } from '../../src/pipeline.js';
import { renderConfigs } from '../../src/render/render-configs.js';
import { loadTemplates, type Templates } from '../../src/render/load-templates.js';
import { servedOnHttps } from '../../src/render/haproxy-view.js';
import type { CertEntry } from '../../src/tls/cert-inventory.js';
import { tlsPlan } from '../../src/tls/tls-plan.js';
import { container, FACTS, MINIMAL_ENV } from './fixtures.js';
import { fakeHaproxyEdges, validatorRefusing } from './support/fakes.js';

// The reconcile step with the real pure core and the real appliers over fake
// edges: what a pass does when planning, validating, reloading or the Runtime
// API fails, and that it never throws.

const config = parseEnvironment({ ...MINIMAL_ENV, VIPKEEPER_STATUS_ADDR: '127.0.0.1:9321' }, FACTS).config;
let builtin: Templates;
beforeAll(async () => {
  builtin = await loadTemplates(null);
});

function rig(opts: { containers?: ContainerInfo[]; busyPorts?: number[]; kept?: boolean; certificates?: CertEntry[] } = {}) {
  const { log, clock, files, api, control, deletes } = fakeHaproxyEdges();
  let templates: Templates | Error = builtin;
  let templatesKey = 'builtin';
  let containers = opts.containers ?? [];
  const retries: { ms: number; why: string }[] = [];
  const started = { haproxy: 0, keepalived: 0 };
  const busy = new Set(opts.busyPorts ?? []);
  const haproxy = new HaproxyApplier({
    files,
    validate: validatorRefusing(files, 'no-such-option'),
    control,
    api,
    deletes,
    applyServers: async (changes) => {
      for (const a of changes.add) await api.command(`add server ${a.backend}/${a.server.name}`);
      for (const r of changes.remove) await api.command(`set server ${r.backend}/${r.server.name} state maint`);
      return [];
    },
    log,
    now: () => clock.now(),
  });
  const parts: ReconcilerParts = {
    list: async () => containers,
    desire: (cs, ctx) => desiredState(config, cs, { ...ctx, ...(opts.certificates ? { certificates: opts.certificates } : {}) }),
    httpsPortOf: (state) => (state.services.some((s) => servedOnHttps(s, tlsPlan(config, state.certificates))) ? config.httpsPort : null),
    render: (state) => {
      if (templates instanceof Error) throw templates;
      return renderConfigs(config, state, templates);
    },
    templatesKey: () => templatesKey,
    haproxy,
    keepalived: new KeepalivedApplier({ files, validate: async () => undefined, reload: () => true, takesPart: () => true }),
    readLive: async () => ({ haproxy: await files.read('haproxy.cfg'), keepalived: await files.read('keepalived.conf') }),
    stopping: new StopTracker(() => undefined, clock),
    ports: new PortGuard(new Map([[9321, "vipkeeper's status address"]]), async (p) => !busy.has(p)),
    retry: new RetryPolicy(undefined, clock, () => 0.5),
    retryLater: (ms, why) => retries.push({ ms, why }),
    warnings: () => undefined,
    log,
    clock,
  };
  const reconciler = new Reconciler(parts);
  const children = {
    keptHaproxy: () => opts.kept ?? false,
    startHaproxy: async () => void (started.haproxy += 1),
    startKeepalived: async () => void (started.keepalived += 1),
  };
  return {
    reconciler,
    files,
    api,
    control,
    retries,
    started,
    children,
    busy,
    setContainers: (c: ContainerInfo[]) => (containers = c),
    setTemplates: (t: Templates | Error, key: string) => {
      templates = t;
      templatesKey = key;
    },
  };
}

const web = (name: string, extra: Record<string, string> = {}) => container({ name, extraLabels: extra });
const brokenTemplate = (): Templates => ({
  ...builtin,
  'haproxy.cfg.ejs': { ...builtin['haproxy.cfg.ejs'], path: '/user/haproxy.cfg.ejs', text: `${builtin['haproxy.cfg.ejs'].text}\n<%- missing.value %>\n`, overridden: true },
});

describe('Reconciler: a pass never throws and never leaves a config that did not load', () => {
  it('a template that fails while the agent runs costs its pass only: the last good config stays, the error names the file, a retry is asked for', async () => {
    const r = rig({ containers: [web('a')] });
    await r.reconciler.initial(r.children);
    const good = r.files.live.get('haproxy.cfg');
    r.setTemplates(new TemplateError('/user/haproxy.cfg.ejs', new Error('/user/haproxy.cfg.ejs:51 missing is not defined')), 'broken');
    r.setContainers([web('a'), web('b')]);
    const record = await r.reconciler.pass(['file changed']);
    expect(record?.error).toContain('/user/haproxy.cfg.ejs');
    expect(record?.code).toBe('E_TEMPLATE');
    expect(r.files.live.get('haproxy.cfg')).toBe(good);
    expect(r.retries).toHaveLength(1);
    // Fixed: the next pass applies everything that waited.
    r.setTemplates(builtin, 'builtin-2');
    const fixed = await r.reconciler.pass(['file changed']);
    expect(fixed?.error).toBeNull();
    expect(r.files.live.get('haproxy.cfg')).toContain('server a ');
    expect(r.files.live.get('haproxy.cfg')).toContain('server b ');
  });

  it('a template that throws while printing (not only a load error) is caught by the pass', async () => {
    const r = rig({ containers: [web('a')] });
    await r.reconciler.initial(r.children);
    r.setTemplates(brokenTemplate(), 'broken');
    const record = await r.reconciler.pass(['file changed']);
    expect(record?.code).toBe('E_TEMPLATE');
    expect(record?.error).toMatch(/\/user\/haproxy\.cfg\.ejs:\d+/);
  });

  it('a template change in the same pass as a server add reloads, so the new structure is loaded', async () => {
    const r = rig({ containers: [web('a')] });
    await r.reconciler.initial(r.children);
    const changed: Templates = { ...builtin, 'haproxy.cfg.ejs': { ...builtin['haproxy.cfg.ejs'], text: builtin['haproxy.cfg.ejs'].text.replace('timeout queue 30s', 'timeout queue 29s') } };
    r.setTemplates(changed, 'edited');
    r.setContainers([web('a'), web('b')]);
    const record = await r.reconciler.pass(['file changed', 'start b']);
    expect(record?.applied).toBe('reload');
    expect(record?.reloadReason).toBe('a template changed');
    expect(r.control.reloads).toBe(1);
    expect(r.api.commands.filter((c) => c.startsWith('add server'))).toEqual([]);
  });

  it('a server-only change goes through the Runtime API without a reload', async () => {
    const r = rig({ containers: [web('a')] });
    await r.reconciler.initial(r.children);
    r.setContainers([web('a'), web('b')]);
    const record = await r.reconciler.pass(['start b']);
    expect(record?.applied).toBe('runtime-api');
    expect(r.control.reloads).toBe(0);
    expect(r.api.commands).toContain('add server be_apps/b');
  });

  it('a reload that fails on a busy port puts the previous file back, then leaves that service out and goes on', async () => {
    const r = rig({ containers: [web('a')] });
    await r.reconciler.initial(r.children);
    const before = r.files.live.get('haproxy.cfg');
    r.control.failWith = '[ALERT] (1) : Binding [cfg:30] for frontend fe_8081: cannot bind socket (Address already in use) for [0.0.0.0:8081]';
    r.setContainers([web('a'), web('other', { 'vipkeeper.service': 'other', 'vipkeeper.frontend.port': '8081' })]);
    const failed = await r.reconciler.pass(['start other']);
    expect(failed?.code).toBe('E_HAPROXY_RELOAD');
    expect(r.files.live.get('haproxy.cfg')).toBe(before);
    // The next pass: the port is still held by someone else (the probe says so too).
    r.busy.add(8081);
    r.control.failWith = null;
    r.setContainers([web('a'), web('other', { 'vipkeeper.service': 'other', 'vipkeeper.frontend.port': '8081' }), web('b')]);
    const next = await r.reconciler.pass(['retry']);
    expect(next?.error).toBeNull();
    expect(r.files.live.get('haproxy.cfg')).not.toContain('fe_8081');
    expect(r.files.live.get('haproxy.cfg')).toContain('server b ');
    const skipped = r.reconciler.applied?.state.skipped.find((s) => s.containerName === 'other');
    expect(skipped?.reason).toMatch(/frontend port 8081.*haproxy could not bind it/);
  });

  it('a new service on a port another process holds is skipped up front, naming the container and the port', async () => {
    const r = rig({ containers: [web('a')], busyPorts: [8082] });
    await r.reconciler.initial(r.children);
    r.setContainers([web('a'), web('x', { 'vipkeeper.service': 'x', 'vipkeeper.frontend.port': '8082' })]);
    const record = await r.reconciler.pass(['start x']);
    expect(record).toBeNull(); // nothing to change: x is skipped
    expect(r.reconciler.applied?.state.skipped).toEqual([
      expect.objectContaining({ containerName: 'x', reason: expect.stringMatching(/service x cannot listen on frontend port 8082: another process/) }),
    ]);
    expect(r.control.reloads).toBe(0);
  });

  it("a frontend port equal to the status port is refused, even at start", async () => {
    const r = rig({ containers: [web('a'), web('s', { 'vipkeeper.service': 's', 'vipkeeper.frontend.port': '9321' })] });
    await r.reconciler.initial(r.children);
    expect(r.files.live.get('haproxy.cfg')).not.toContain(':9321');
    expect(r.reconciler.applied?.state.skipped[0]?.reason).toMatch(/9321: it is vipkeeper's status address/);
  });

  it('a config the binary refuses is not installed; the pass fails and is retried, and a later good one applies', async () => {
    const r = rig({ containers: [web('a')] });
    await r.reconciler.initial(r.children);
    const before = r.files.live.get('haproxy.cfg');
    r.setTemplates({ ...builtin, 'haproxy.cfg.ejs': { ...builtin['haproxy.cfg.ejs'], text: builtin['haproxy.cfg.ejs'].text.replace('option redispatch', 'option no-such-option') } }, 'bad');
    const failed = await r.reconciler.pass(['file changed']);
    expect(failed?.code).toBe('E_CONFIG_REJECTED');
    expect(r.files.live.get('haproxy.cfg')).toBe(before);
    expect(r.retries.at(-1)?.ms).toBe(30_000); // needs a change of input: retried at the cap only
  });

  it('a full config disk fails the pass without touching HAProxy; it is retried with backoff', async () => {
    const r = rig({ containers: [web('a')] });
    await r.reconciler.initial(r.children);
    r.files.failWrites = new ConfigWriteError('/fake/haproxy.cfg', Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }));
    r.setContainers([web('a'), web('b')]);
    const failed = await r.reconciler.pass(['start b']);
    expect(failed?.error).toContain('ENOSPC');
    expect(r.api.commands).toEqual([]);
    expect(r.retries.at(-1)?.ms).toBe(250);
    r.files.failWrites = null;
    expect((await r.reconciler.pass(['retry']))?.applied).toBe('runtime-api');
  });
});

describe('Reconciler.initial', () => {
  it('starts on the previous live files when the first plan fails, records the failure and asks for a retry', async () => {
    const r = rig({ containers: [web('a')] });
    r.files.live.set('haproxy.cfg', 'previous haproxy');
    r.files.live.set('keepalived.conf', 'previous keepalived');
    r.setTemplates(new TemplateError('/user/haproxy.cfg.ejs', new Error('boom')), 'broken');
    await r.reconciler.initial(r.children);
    expect(r.started).toEqual({ haproxy: 1, keepalived: 1 });
    expect(r.files.live.get('haproxy.cfg')).toBe('previous haproxy');
    expect(r.reconciler.lastPass?.code).toBe('E_TEMPLATE');
    expect(r.retries).toHaveLength(1);
    // Fixed: the stale live file is replaced by a reload.
    r.setTemplates(builtin, 'builtin');
    const record = await r.reconciler.pass(['retry']);
    expect(record?.applied).toBe('reload');
    expect(r.files.live.get('haproxy.cfg')).toContain('server a ');
  });

  it("after starting on the previous files, the live file's own ports are never probed as someone else's", async () => {
    const r = rig({ containers: [web('a')], busyPorts: [80], kept: true }); // our kept haproxy holds :80
    r.files.live.set('haproxy.cfg', 'frontend fe_80\n    bind :80\n');
    r.files.live.set('keepalived.conf', 'previous keepalived');
    r.setTemplates(new TemplateError('/user/haproxy.cfg.ejs', new Error('boom')), 'broken');
    await r.reconciler.initial(r.children);
    r.setTemplates(builtin, 'builtin');
    const record = await r.reconciler.pass(['file changed']);
    expect(record?.applied).toBe('reload');
    expect(r.reconciler.applied?.state.skipped).toEqual([]);
    expect(r.files.live.get('haproxy.cfg')).toContain('server a ');
  });

  it('at start, a frontend port another process holds (another haproxy would share it silently) leaves that service out', async () => {
    const r = rig({ containers: [web('a')], busyPorts: [80] });
    await r.reconciler.initial(r.children);
    expect(r.files.live.get('haproxy.cfg')).not.toContain('bind :80');
    expect(r.reconciler.applied?.state.skipped[0]?.reason).toMatch(/frontend port 80: another process/);
  });

  it('a busy HTTPS port (another process holds 443) leaves HTTPS out, says why per certificate, and HTTP keeps serving', async () => {
    const cert: CertEntry = { file: 'a.pem', state: 'ok', names: ['a.example.com'], notBefore: new Date(0), notAfter: new Date(4e12), digest: 'd', pem: 'PEM' };
    const r = rig({ containers: [web('a', { 'vipkeeper.host': 'a.example.com' })], busyPorts: [config.httpsPort], certificates: [cert] });
    await r.reconciler.initial(r.children);
    const cfg = r.files.live.get('haproxy.cfg')!;
    expect(cfg).toContain('server a ');
    expect(cfg).not.toContain(' ssl crt ');
    expect(r.reconciler.applied?.state.certificates).toEqual([
      { file: 'a.pem', state: 'refused', reason: `not served: HTTPS port ${config.httpsPort} another process on this host already listens on it` },
    ]);
    expect(r.reconciler.lastPass?.error ?? null).toBeNull();
  });

  it('a rejected first haproxy.cfg is not recorded as applied: later passes retry it', async () => {
    const r = rig({ containers: [web('a')] });
    r.files.live.set('haproxy.cfg', 'previous haproxy');
    r.files.live.set('keepalived.conf', 'previous keepalived');
    r.setTemplates({ ...builtin, 'haproxy.cfg.ejs': { ...builtin['haproxy.cfg.ejs'], text: builtin['haproxy.cfg.ejs'].text.replace('option redispatch', 'option no-such-option') } }, 'bad');
    await r.reconciler.initial(r.children);
    expect(r.reconciler.lastPass?.code).toBe('E_CONFIG_REJECTED');
    r.setTemplates(builtin, 'builtin');
    expect((await r.reconciler.pass(['retry']))?.applied).toBe('reload');
  });

  it('without previous files a failing first plan fails the start, before any child starts', async () => {
    const r = rig({ containers: [web('a')] });
    r.setTemplates(new TemplateError('/user/haproxy.cfg.ejs', new Error('boom')), 'broken');
    await expect(r.reconciler.initial(r.children)).rejects.toBeInstanceOf(TemplateError);
    expect(r.started).toEqual({ haproxy: 0, keepalived: 0 });
  });
});

describe('boundPorts', () => {
  it.each([
    ['frontend fe_80\n    bind :80\n', [80]],
    ['    bind 198.18.0.10:443 ssl crt /x\n  bind [::]:8080\n', [443, 8080]],
    ['# bind :99 in a comment\nbackend b\n', []],
  ])('%j -> %j', (cfg, ports) => {
    expect(boundPorts(cfg)).toEqual(ports);
  });
});
