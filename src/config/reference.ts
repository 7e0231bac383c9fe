import { LABEL_SPECS } from '../labels/label-schema.js';
import { ENV_SPECS } from './env-schema.js';

// The README's variable and label references, printed from the schemas so
// they cannot drift (a test compares them with README.md).

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function envReference(): string {
  const rows = ENV_SPECS.map((s) => `| \`${s.name}\` | ${cell(s.meaning)} | ${cell(s.defaultText)} |`);
  return ['| variable | meaning | default |', '| --- | --- | --- |', ...rows].join('\n');
}

export function labelReference(): string {
  const rows = LABEL_SPECS.map(
    (s) => `| \`${s.key}\` | ${s.scope} | ${cell(s.meaning)} | ${cell(s.rule)} | ${cell(s.defaultText)} |`,
  );
  return ['| label | applies to | meaning | accepted values | default |', '| --- | --- | --- | --- | --- |', ...rows].join('\n');
}

export const REFERENCE_BLOCKS = {
  env: { start: '<!-- env-reference:start -->', end: '<!-- env-reference:end -->', render: envReference },
  labels: { start: '<!-- label-reference:start -->', end: '<!-- label-reference:end -->', render: labelReference },
} as const;

/** README text with both reference blocks replaced by freshly printed ones. */
export function updateReferences(readme: string): string {
  let out = readme;
  for (const block of Object.values(REFERENCE_BLOCKS)) {
    const start = out.indexOf(block.start);
    const end = out.indexOf(block.end);
    if (start < 0 || end < start) throw new Error(`README lacks the markers ${block.start} ... ${block.end}`);
    out = `${out.slice(0, start + block.start.length)}\n${block.render()}\n${out.slice(end)}`;
  }
  return out;
}
