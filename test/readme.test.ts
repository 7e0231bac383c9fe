import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { updateReferences } from '../src/config/reference.js';

describe('README references', () => {
  it('match the environment and label schemas (run `npm run docs` to refresh)', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(updateReferences(readme)).toBe(readme);
  });

  it('give the test command that .ci/run calls', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const ci = readFileSync(new URL('../.ci/run', import.meta.url), 'utf8');
    expect(readme).toContain('npm test');
    expect(ci).toMatch(/^npm test$/m);
  });
});
