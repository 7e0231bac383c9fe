import ejs from 'ejs';
import type { Config } from '../config/env.js';
import { runtimePaths } from '../config/paths.js';
import { TemplateError } from '../errors.js';
import type { DesiredState } from '../model/desired-state.js';
import { haproxyView } from './haproxy-view.js';
import { keepalivedView } from './keepalived-view.js';
import type { TemplateSource, Templates } from './load-templates.js';

export interface RenderedConfigs {
  readonly haproxyCfg: string;
  readonly keepalivedConf: string;
}


/** Desired state + config + template text -> both files' bytes. Pure and deterministic. */
export function renderConfigs(config: Config, state: DesiredState, templates: Templates): RenderedConfigs {
  return {
    haproxyCfg: print(
      templates['haproxy.cfg.ejs'],
      haproxyView(state.services, { adminSocket: runtimePaths(config).adminSocket }),
    ),
    keepalivedConf: print(templates['keepalived.conf.ejs'], keepalivedView(config)),
  };
}

function print(template: TemplateSource, view: object): string {
  try {
    // filename makes ejs errors point at the user's template line.
    return ejs.render(template.text, view as ejs.Data, { filename: template.path, async: false });
  } catch (err) {
    throw new TemplateError(template.path, err);
  }
}
