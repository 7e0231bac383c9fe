import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseEnvironment } from '../../src/config/env.js';
import { writeFileAtomic } from '../../src/files/atomic-write.js';
import { planConfigs } from '../../src/pipeline.js';
import { loadTemplates } from '../../src/render/load-templates.js';
import { realValidator } from '../../src/validate/check-config.js';
import { labFacts, scenarios } from '../fixtures/scenarios.js';
import { TEST_IFACE } from './support/lab.js';

// Every fixture scenario, rendered with the built-in templates, must be
// accepted by the real haproxy -c and keepalived -t.

describe('rendered fixtures pass the real binaries', () => {
  const validate = realValidator();
  it.each(scenarios().map((s) => [s.name, s] as const))('%s', async (_name, s) => {
    const { config } = parseEnvironment(s.env, labFacts(TEST_IFACE));
    const { rendered, state } = planConfigs(config, s.containers, await loadTemplates(null));
    const dir = mkdtempSync(join(tmpdir(), 'vipkeeper-fixture-'));
    await writeFileAtomic(dir, 'haproxy.cfg', rendered.haproxyCfg, (f) => validate('haproxy', f));
    await writeFileAtomic(dir, 'keepalived.conf', rendered.keepalivedConf, (f) => validate('keepalived', f));
    // Sanity: a scenario with containers renders at least one server line unless all were skipped.
    const servers = state.services.flatMap((x) => x.servers).length;
    expect(rendered.haproxyCfg.split('\n').filter((l) => /^\s+server /.test(l))).toHaveLength(servers);
  });

  it('the hostile scenario keeps only the good container and the older services', async () => {
    const s = scenarios().find((x) => x.name.startsWith('hostile'))!;
    const { config } = parseEnvironment(s.env, labFacts(TEST_IFACE));
    const { state, rendered } = planConfigs(config, s.containers, await loadTemplates(null));
    expect(state.services.map((x) => [x.name, x.servers.map((y) => y.name)])).toEqual([['apps', ['good']]]);
    expect(state.skipped.map((x) => x.containerName).sort()).toEqual(
      ['evil-host', 'evil-port', 'evil-service', 'late-claim', 'tcp-clash'].sort(),
    );
    expect(rendered.haproxyCfg).not.toMatch(/1\.2\.3\.4|use_backend be_x|TRUE/);
  });
});
