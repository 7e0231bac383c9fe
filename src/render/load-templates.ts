import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TemplateError } from '../errors.js';

// Where template text comes from: the user's directory first, else ours.

export const TEMPLATE_NAMES = ['haproxy.cfg.ejs', 'keepalived.conf.ejs'] as const;
export type TemplateName = (typeof TEMPLATE_NAMES)[number];

export interface TemplateSource {
  readonly name: TemplateName;
  readonly path: string;
  readonly text: string;
  readonly overridden: boolean;
}

export type Templates = Readonly<Record<TemplateName, TemplateSource>>;

/** templates/ at the package root; the same from src/ (tests) and dist/ (built). */
export const BUILTIN_TEMPLATES_DIR = fileURLToPath(new URL('../../templates/', import.meta.url));

export async function loadTemplates(userDir: string | null): Promise<Templates> {
  const entries = await Promise.all(
    TEMPLATE_NAMES.map(async (name): Promise<[TemplateName, TemplateSource]> => {
      if (userDir !== null) {
        const path = join(userDir, name);
        try {
          return [name, { name, path, text: await readFile(path, 'utf8'), overridden: true }];
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new TemplateError(path, err);
        }
      }
      const path = join(BUILTIN_TEMPLATES_DIR, name);
      try {
        return [name, { name, path, text: await readFile(path, 'utf8'), overridden: false }];
      } catch (err) {
        throw new TemplateError(path, err);
      }
    }),
  );
  return Object.fromEntries(entries) as unknown as Templates;
}
