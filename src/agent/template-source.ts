import { createHash } from 'node:crypto';
import { TemplateError } from '../errors.js';
import { loadTemplates, type Templates } from '../render/load-templates.js';

// The templates in use: loaded at start and again whenever a watched template
// file changes. A load that fails keeps nothing half-read: plans fail with the
// load's error (naming the file) until a good load, and the last good config
// stays live meanwhile.

export class TemplateSource {
  #templates: Templates | null = null;
  #error: unknown = new TemplateError('(templates)', new Error('not loaded yet'));
  #key = '';

  constructor(
    private readonly dir: string | null,
    private readonly load_: (dir: string | null) => Promise<Templates> = loadTemplates,
  ) {}

  /** Reads the templates again; rejects (and keeps the error for plans) when they cannot be read. */
  async load(): Promise<void> {
    try {
      const t = await this.load_(this.dir);
      this.#templates = t;
      this.#error = null;
      this.#key = createHash('sha256').update(Object.values(t).map((s) => `${s.path}\0${s.text}`).join('\0')).digest('hex').slice(0, 16);
    } catch (err) {
      this.#templates = null;
      this.#error = err instanceof TemplateError ? err : new TemplateError(this.dir ?? '(built-in)', err);
      throw this.#error;
    }
  }

  /** The templates for a plan; throws the load's TemplateError when the last load failed. */
  current(): Templates {
    if (this.#templates === null) throw this.#error;
    return this.#templates;
  }

  /** Identity of the current templates: another key means the file's structure may have changed. */
  key(): string {
    return this.#key;
  }
}
