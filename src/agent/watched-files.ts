import { readFile } from 'node:fs/promises';
import type { LiveConfig } from '../config/live-config.js';
import type { EngineLink } from '../docker/engine-link.js';
import { type FileWatch, watchFiles } from '../files/file-watcher.js';
import type { Logger } from '../log.js';
import type { TemplateSource } from './template-source.js';

// What the agent does when a file it follows changes: renewed TLS
// certificates of the engines reconnect them; a changed VRRP password file is
// read again; a changed template is loaded again. Each then marks a pass
// pending; a change that cannot be used is logged and the last good config stays.

export interface WatchedFiles {
  readonly templatesDir: string | null;
  readonly passFile: string | null;
  readonly certDirs: readonly string[];
  /** VIPKEEPER_CERTS_DIR when it exists at start: a change there is a pass (the HTTPS certificates). */
  readonly httpsCertsDir?: string | null;
  readonly reconnectEngines: () => void;
  /** The password file's new content, or the error reading it; throws when it cannot be used. */
  readonly passwordChanged: (content: { content: string } | { error: string }) => void;
  readonly reloadTemplates: () => Promise<void>;
  readonly trigger: (reason: string) => void;
  readonly log: Logger;
}

export function followFiles(w: WatchedFiles): Promise<FileWatch> {
  const paths = [...(w.templatesDir ? [w.templatesDir] : []), ...(w.passFile ? [w.passFile] : []), ...w.certDirs, ...(w.httpsCertsDir ? [w.httpsCertsDir] : [])];
  return watchFiles({
    paths,
    log: w.log,
    onChange: (path) => {
      if (w.httpsCertsDir && (path === w.httpsCertsDir || path.startsWith(`${w.httpsCertsDir}/`))) {
        // The pass reads and judges the directory again (cert-source.ts).
        w.trigger(`certificate changed ${path}`);
      } else if (w.certDirs.some((d) => path.startsWith(`${d}/`))) {
        w.log.info({ path }, 'a TLS certificate changed: reconnecting to the engines');
        w.reconnectEngines();
      } else if (path === w.passFile) {
        void readFile(path, 'utf8')
          .then((content) => ({ content }), (e: NodeJS.ErrnoException) => ({ error: e.code ?? String(e) }))
          .then((content) => w.passwordChanged(content))
          .then(() => w.trigger(`file changed ${path}`))
          .catch((err: unknown) => w.log.error({ err, path }, 'the password file changed but cannot be used; the last good config stays live'));
      } else {
        // A template that fails to load is kept as the plans' error: the pass fails and says why.
        void w.reloadTemplates().catch(() => undefined).finally(() => w.trigger(`file changed ${path}`));
      }
    },
  });
}

export interface AgentFiles {
  readonly config: Pick<LiveConfig, 'current' | 'passFile' | 'passwordChanged'>;
  readonly links: readonly Pick<EngineLink, 'reconnect'>[];
  readonly templates: Pick<TemplateSource, 'load'>;
  readonly trigger: (reason: string) => void;
  readonly log: Logger;
  /** VIPKEEPER_CERTS_DIR, if it exists. */
  readonly httpsCertsDir?: string | null;
}

/** The agent's files to follow, from the config it starts on: its templates, password file, and engines' certificate dirs. */
export function agentWatchedFiles(a: AgentFiles): WatchedFiles {
  const c = a.config.current;
  return {
    templatesDir: c.templatesDir,
    passFile: a.config.passFile,
    certDirs: [...new Set(c.engines.map((e) => e.tlsCertPath).filter((d) => d !== null))],
    httpsCertsDir: a.httpsCertsDir ?? null,
    reconnectEngines: () => a.links.forEach((l) => l.reconnect()),
    passwordChanged: (content) => a.config.passwordChanged(content),
    reloadTemplates: () => a.templates.load(),
    trigger: a.trigger,
    log: a.log,
  };
}
