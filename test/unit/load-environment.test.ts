import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadEnvironment } from '../../src/config/load-environment.js';
import { ConfigError } from '../../src/errors.js';
import { FACTS, MINIMAL_ENV } from './fixtures.js';

// The I/O half of configuration against real files: what the edge reads and
// checks ends up in the same one ConfigError as every other problem.

const root = mkdtempSync(join(tmpdir(), 'vipkeeper-load-env-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function configError(env: Record<string, string>): Promise<ConfigError> {
  const err: unknown = await loadEnvironment({ ...MINIMAL_ENV, ...env }, FACTS).then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(ConfigError);
  return err as ConfigError;
}

describe('loadEnvironment: VIPKEEPER_TEMPLATES_DIR', () => {
  it('an existing directory, even an empty one, is used', async () => {
    const dir = join(root, 'empty');
    mkdirSync(dir);
    expect((await loadEnvironment({ ...MINIMAL_ENV, VIPKEEPER_TEMPLATES_DIR: dir }, FACTS)).config.templatesDir).toBe(dir);
  });

  it.each<[string, () => string, string]>([
    ['a directory that does not exist', () => join(root, 'missing'), 'the directory does not exist'],
    ['a file', () => {
      const file = join(root, 'a-file');
      writeFileSync(file, 'x');
      return file;
    }, 'is not a directory'],
    ['a path through a file', () => {
      const file = join(root, 'another-file');
      writeFileSync(file, 'x');
      return join(file, 'templates');
    }, 'is not a directory'],
  ])('%s is a ConfigError naming the variable (no silent fallback to the built-in templates)', async (_what, make, rule) => {
    const dir = make();
    const err = await configError({ VIPKEEPER_TEMPLATES_DIR: dir });
    expect(err.problems).toEqual([{ variable: 'VIPKEEPER_TEMPLATES_DIR', shownValue: JSON.stringify(dir), rule: expect.stringContaining(rule) }]);
  });

  it('is listed with every other bad variable in one ConfigError', async () => {
    const err = await configError({ VIPKEEPER_TEMPLATES_DIR: join(root, 'nope'), VIPKEEPER_PRIORITY: '0', VIPKEEPER_AUTH_PASS_FILE: join(root, 'no-secret') });
    expect(err.problems.map((p) => p.variable).sort()).toEqual(['VIPKEEPER_AUTH_PASS_FILE', 'VIPKEEPER_PRIORITY', 'VIPKEEPER_TEMPLATES_DIR']);
  });
});

describe('loadEnvironment: password files, the global one and each instance\'s', () => {
  const TWO = {
    VIPKEEPER_INSTANCES: 'web,api',
    VIPKEEPER_INSTANCE_WEB_VIRTUAL_IPS: '198.18.0.10/24',
    VIPKEEPER_INSTANCE_WEB_VIRTUAL_ROUTER_ID: '61',
    VIPKEEPER_INSTANCE_API_VIRTUAL_IPS: '198.18.0.20/24',
    VIPKEEPER_INSTANCE_API_VIRTUAL_ROUTER_ID: '62',
  };

  it('each file is read: an instance\'s own, else the global one', async () => {
    const glob = join(root, 'vrrp');
    const web = join(root, 'web-vrrp');
    writeFileSync(glob, 'glob-pw\n');
    writeFileSync(web, 'web-pw\n');
    const { config } = await loadEnvironment({ ...TWO, VIPKEEPER_AUTH_PASS_FILE: glob, VIPKEEPER_INSTANCE_WEB_AUTH_PASS_FILE: web }, FACTS);
    expect(config.instances.map((i) => [i.name, i.authPass?.reveal()])).toEqual([['web', 'web-pw'], ['api', 'glob-pw']]);
  });

  it('an instance file that cannot be read is a ConfigError naming its variable', async () => {
    const err: unknown = await loadEnvironment({ ...TWO, VIPKEEPER_INSTANCE_API_AUTH_PASS_FILE: join(root, 'missing-api') }, FACTS).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual([
      { variable: 'VIPKEEPER_INSTANCE_API_AUTH_PASS_FILE', shownValue: JSON.stringify(join(root, 'missing-api')), rule: 'cannot read the file: ENOENT' },
    ]);
  });
});
