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

// compose/.env.example: the variable lines between these markers are printed
// from the schema too, so a new variable cannot be forgotten there. Values
// already written (an example VIP, a line left commented) are kept.
export const ENV_EXAMPLE_START = '# --- vipkeeper variables: printed from the schema by `npm run docs`; edit values only ---';
export const ENV_EXAMPLE_END = '# --- end of vipkeeper variables ---';

/** Wraps prose into `# ` comment lines of at most `width` characters. */
function commentLines(text: string, width = 88): string[] {
  const lines: string[] = [];
  let line = '#';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line.length + 1 + word.length > width && line !== '#') {
      lines.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  if (line !== '#') lines.push(line);
  return lines;
}

/** The block of variable lines; `current` is the existing file, whose values win. */
export function envExampleBlock(current = ''): string {
  const out: string[] = [];
  for (const s of ENV_SPECS) {
    const existing = new RegExp(`^#? ?${s.name}=.*$`, 'm').exec(current)?.[0];
    // Required variables stay uncommented and empty, so the agent names them until they are set.
    const assignment = existing ?? (s.defaultText === 'required' ? `${s.name}=` : `# ${s.name}=`);
    out.push('', ...commentLines(`${s.meaning} Default: ${s.defaultText}.`), assignment);
  }
  return out.join('\n');
}

/** The .env example with its generated block replaced by a freshly printed one. */
export function updateEnvExample(text: string): string {
  const start = text.indexOf(ENV_EXAMPLE_START);
  const end = text.indexOf(ENV_EXAMPLE_END);
  if (start < 0 || end < start) throw new Error(`the .env example lacks the markers ${ENV_EXAMPLE_START} ... ${ENV_EXAMPLE_END}`);
  const block = text.slice(start + ENV_EXAMPLE_START.length, end);
  return `${text.slice(0, start + ENV_EXAMPLE_START.length)}${envExampleBlock(block)}\n\n${text.slice(end)}`;
}
