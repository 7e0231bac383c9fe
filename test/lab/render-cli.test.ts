import { mkdtempSync, readFileSync, existsSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';
import { TEST_IFACE, TEST_VIP, publishedPort, removeTestContainers, runApp, sh } from './support/lab.js';

// `vipkeeper render` against the real dockerd, with both files checked by the
// real haproxy and keepalived binaries.

const baseEnv = {
  VIPKEEPER_VIRTUAL_IPS: TEST_VIP,
  VIPKEEPER_LOG_LEVEL: 'warn',
};

const fresh = () => mkdtempSync(join(tmpdir(), 'vipkeeper-render-'));

describe('vipkeeper render against real Docker', () => {
  beforeAll(async () => {
    await removeTestContainers();
    await runApp({ name: 'vkt-web-1', labels: { role: 'apps' }, publish: ['80'] });
    await runApp({ name: 'vkt-web-2', labels: { role: 'apps' }, publish: ['80'] });
    await runApp({ name: 'vkt-plain', publish: ['80'] });
    await runApp({
      name: 'vkt-hostile',
      labels: { role: 'apps', 'vipkeeper.check.path': '/x\n    server evil 203.0.113.9:80' },
      publish: ['80'],
    });
    // Stopped containers with the role are not served either.
    await runApp({ name: 'vkt-stopped', labels: { role: 'apps' }, publish: ['80'] });
    await sh('docker', ['stop', '-t', '0', 'vkt-stopped']);
  });
  afterAll(removeTestContainers);

  it('writes exactly the two good servers, warns about the hostile one, and both files pass the real checks', async () => {
    const out = fresh();
    const r = await runCli(['render', '--out', out, '--json'], baseEnv);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as {
      selected: { container: string; address: string }[];
      skipped: { container: string; reason: string }[];
    };

    const expected = await Promise.all(
      ['vkt-web-1', 'vkt-web-2'].map(async (c) => ({ container: c, address: `127.0.0.1:${await publishedPort(c, 80)}` })),
    );
    expect(report.selected.map((s) => ({ container: s.container, address: s.address }))).toEqual(expected);
    expect(report.skipped.map((s) => s.container)).toEqual(['vkt-hostile']);
    expect(report.skipped[0]!.reason).toContain('vipkeeper.check.path');

    // The warning names container, label, value (escaped) and rule.
    const warning = r.stderr.split('\n').find((l) => l.includes('vkt-hostile'));
    expect(warning).toBeDefined();
    const parsed = JSON.parse(warning!) as Record<string, string>;
    expect(parsed).toMatchObject({ container: 'vkt-hostile', label: 'vipkeeper.check.path' });
    expect(parsed.value).toContain('\\n');
    expect(parsed.rule).toMatch(/path starting with/);

    const haproxyCfg = readFileSync(join(out, 'haproxy.cfg'), 'utf8');
    const servers = haproxyCfg.split('\n').filter((l) => /^\s+server /.test(l));
    expect(servers).toEqual(expected.map((e) => `    server ${e.container} ${e.address} check inter 2s fastinter 250ms downinter 250ms rise 2 fall 5 weight 100`));
    expect(haproxyCfg).not.toContain('evil');
    expect(haproxyCfg).not.toContain('203.0.113.9');

    const keepalivedConf = readFileSync(join(out, 'keepalived.conf'), 'utf8');
    // The interface defaults to the one whose subnet holds the VIP: the lab's dummy interface.
    expect(keepalivedConf).toContain(`interface ${TEST_IFACE}`);

    // Checked again here, independently of the command's own check.
    expect((await sh('haproxy', ['-c', '-f', join(out, 'haproxy.cfg')], { allowFail: true })).code).toBe(0);
    expect((await sh('keepalived', ['-t', '-f', join(out, 'keepalived.conf')], { allowFail: true })).code).toBe(0);
  });

  it("keeps what an operator disabled (operator-state.json in the config dir) disabled, as the agent renders it", async () => {
    const configDir = fresh();
    const id = (await sh('docker', ['inspect', '-f', '{{.Id}}', 'vkt-web-2'])).stdout.trim();
    const override = { containerId: id, containerName: 'vkt-web-2', service: 'apps', server: 'vkt-web-2', admin: 'maint', drainFirst: false, reason: 'patching', since: new Date().toISOString(), by: null };
    writeFileSync(join(configDir, 'operator-state.json'), JSON.stringify({ version: 1, servers: [override], maintenance: null }));
    const out = fresh();
    const r = await runCli(['render', '--out', out, '--json'], { ...baseEnv, VIPKEEPER_CONFIG_DIR: configDir });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { selected: { container: string; admin: string }[] };
    expect(report.selected.map((s) => [s.container, s.admin])).toEqual([['vkt-web-1', 'ready'], ['vkt-web-2', 'maint']]);
    const servers = readFileSync(join(out, 'haproxy.cfg'), 'utf8').split('\n').filter((l) => /^\s+server /.test(l));
    expect(servers.map((l) => [l.trim().split(' ')[1], / disabled\b/.test(l)])).toEqual([['vkt-web-1', false], ['vkt-web-2', true]]);

    // A corrupt file is named and ignored; render never rewrites or copies it.
    writeFileSync(join(configDir, 'operator-state.json'), '{"version":');
    const bad = await runCli(['render', '--out', fresh(), '--json'], { ...baseEnv, VIPKEEPER_CONFIG_DIR: configDir });
    expect(bad.code, bad.stderr).toBe(0);
    expect(bad.stderr).toContain('is corrupt');
    expect((JSON.parse(bad.stdout) as { selected: { admin: string }[] }).selected.map((s) => s.admin)).toEqual(['ready', 'ready']);
  });

  it('prints a readable report by default', async () => {
    const r = await runCli(['render', '--out', fresh()], baseEnv);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/selected 2 containers:/);
    expect(r.stdout).toMatch(/vkt-hostile \([0-9a-f]{12}\): label vipkeeper\.check\.path=/);
    expect(r.stdout).toMatch(/wrote .*haproxy\.cfg \(checked\)/);
  });

  it('does not write a file the real binary rejects, shows its message and exits non-zero', async () => {
    const templates = fresh();
    // A user template that prints something haproxy refuses.
    writeFileSync(join(templates, 'haproxy.cfg.ejs'), 'global\n    no-such-keyword 1\n');
    const out = fresh();
    const r = await runCli(['render', '--out', out], { ...baseEnv, VIPKEEPER_TEMPLATES_DIR: templates });
    expect(r.code).toBe(3);
    expect(existsSync(join(out, 'haproxy.cfg'))).toBe(false);
    expect(r.stdout).toContain('no-such-keyword');
    // The other file is unaffected.
    expect(existsSync(join(out, 'keepalived.conf'))).toBe(true);
  });

  it('keeps the previous good file when a new render is rejected', async () => {
    const out = fresh();
    expect((await runCli(['render', '--out', out], baseEnv)).code).toBe(0);
    const before = readFileSync(join(out, 'haproxy.cfg'), 'utf8');
    const templates = join(fresh(), 't');
    mkdirSync(templates);
    writeFileSync(join(templates, 'haproxy.cfg.ejs'), 'frontend broken\n    bind :notaport\n');
    const r = await runCli(['render', '--out', out], { ...baseEnv, VIPKEEPER_TEMPLATES_DIR: templates });
    expect(r.code).toBe(3);
    expect(readFileSync(join(out, 'haproxy.cfg'), 'utf8')).toBe(before);
  });

  it('refuses an interface that does not exist as a bad environment (exit 2), before anything is written', async () => {
    const out = fresh();
    const r = await runCli(['render', '--out', out], { ...baseEnv, VIPKEEPER_INTERFACE: 'vkt-none0' });
    expect(r.code).toBe(2);
    expect(existsSync(join(out, 'keepalived.conf'))).toBe(false);
    expect(r.stderr).toContain('VIPKEEPER_INTERFACE="vkt-none0": no interface vkt-none0 in this network namespace');
  });

  it('exits 2 and names every bad variable in one message, with the secret masked', async () => {
    const r = await runCli(['render', '--out', fresh()], {
      VIPKEEPER_VIRTUAL_IPS: '198.18.0.300/24',
      VIPKEEPER_PRIORITY: '999',
      VIPKEEPER_STATE: 'LEADER',
      VIPKEEPER_AUTH_PASS: 'sec"ret pass',
      VIPKEEPER_FRONTEND_PORT: '0',
    });
    expect(r.code).toBe(2);
    for (const name of ['VIPKEEPER_VIRTUAL_IPS', 'VIPKEEPER_PRIORITY', 'VIPKEEPER_STATE', 'VIPKEEPER_AUTH_PASS', 'VIPKEEPER_FRONTEND_PORT']) {
      expect(r.stderr).toContain(name);
    }
    expect(r.stderr).toContain('"999"');
    expect(r.stderr).not.toContain('sec"ret');
    expect(r.stderr.match(/invalid environment/g)).toHaveLength(1);
  });

  it('exits 4 with a clear message when Docker does not answer', async () => {
    const r = await runCli(['render', '--out', fresh()], { ...baseEnv, VIPKEEPER_DOCKER_HOST: 'unix:///nonexistent/docker.sock' });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('/nonexistent/docker.sock');
  });
});
