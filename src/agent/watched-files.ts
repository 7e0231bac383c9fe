import type { PassFileReads } from '../config/env.js';
import type { LiveConfig } from '../config/live-config.js';
import { readPassFiles } from '../config/load-environment.js';
import type { EngineLink } from '../docker/engine-link.js';
import { type FileWatch, watchFiles } from '../files/file-watcher.js';
import type { Logger } from '../log.js';
import type { TemplateSource } from './template-source.js';

// What the agent does when a file it follows changes: renewed TLS
// certificates of the engines reconnect them; a changed VRRP password file is
// read again, with every other one (the global one, the instances'); a changed
// template is loaded again. Each then marks a pass pending; a change that
// cannot be used is logged and the last good config stays.

export interface WatchedFiles {
  readonly templatesDir: string | null;
  /** VIPKEEPER_AUTH_PASS_FILE and the instances' password files, each once. */
  readonly passFiles: readonly string[];
  readonly certDirs: readonly string[];
  /** VIPKEEPER_CERTS_DIR when it exists at start: a change there is a pass (the HTTPS certificates). */
  readonly httpsCertsDir?: string | null;
  readonly reconnectEngines: () => void;
  /** Every password file's content (or the error reading it) by path; throws when one cannot be used. */
  readonly passwordChanged: (reads: PassFileReads) => void;
  readonly reloadTemplates: () => Promise<void>;
  readonly trigger: (reason: string) => void;
  readonly log: Logger;
}

export function followFiles(w: WatchedFiles): Promise<FileWatch> {
  const paths = [...(w.templatesDir ? [w.templatesDir] : []), ...w.passFiles, ...w.certDirs, ...(w.httpsCertsDir ? [w.httpsCertsDir] : [])];
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
      } else if (w.passFiles.includes(path)) {
        // All of them, so the new config never mixes this file's new password with another's stale one.
        void readPassFiles(w.passFiles)
          .then((reads) => w.passwordChanged((p) => reads.get(p)))
          .then(() => w.trigger(`file changed ${path}`))
          .catch((err: unknown) => w.log.error({ err, path }, 'a password file changed but cannot be used; the last good config stays live'));
      } else {
        // A template that fails to load is kept as the plans' error: the pass fails and says why.
        void w.reloadTemplates().catch(() => undefined).finally(() => w.trigger(`file changed ${path}`));
      }
    },
  });
}

export interface AgentFiles {
  readonly config: Pick<LiveConfig, 'current' | 'passFiles' | 'passwordChanged'>;
  readonly links: readonly Pick<EngineLink, 'reconnect'>[];
  readonly templates: Pick<TemplateSource, 'load'>;
  readonly trigger: (reason: string) => void;
  readonly log: Logger;
  /** VIPKEEPER_CERTS_DIR, if it exists. */
  readonly httpsCertsDir?: string | null;
}

/** The agent's files to follow, from the config it starts on: its templates, password files, and engines' certificate dirs. */
export function agentWatchedFiles(a: AgentFiles): WatchedFiles {
  const c = a.config.current;
  return {
    templatesDir: c.templatesDir,
    passFiles: a.config.passFiles,
    certDirs: [...new Set(c.engines.map((e) => e.tlsCertPath).filter((d) => d !== null))],
    httpsCertsDir: a.httpsCertsDir ?? null,
    reconnectEngines: () => a.links.forEach((l) => l.reconnect()),
    passwordChanged: (reads) => a.config.passwordChanged(reads),
    reloadTemplates: () => a.templates.load(),
    trigger: a.trigger,
    log: a.log,
  };
}
