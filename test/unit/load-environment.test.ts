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
