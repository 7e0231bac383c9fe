import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ENV_SPECS } from '../../src/config/env-schema.js';
import { updateEnvExample } from '../../src/config/reference.js';

// The shipped deployment files must know every variable the agent reads: a new
// variable in the schema fails here until `npm run docs` (and the Rancher stack) catch up.

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('deployment files and the environment schema', () => {
  it('compose/.env.example is what `npm run docs` prints', () => {
    const example = read('compose/.env.example');
    expect(updateEnvExample(example)).toBe(example);
  });

  it.each(ENV_SPECS.map((s) => s.name))('%s is documented in compose/.env.example and passed by the Rancher stack', (name) => {
    expect(read('compose/.env.example')).toMatch(new RegExp(`^#? ?${name}=`, 'm'));
    expect(read('compose/rancher/docker-compose.yml')).toContain(`${name}: \${${name}`);
  });
});
