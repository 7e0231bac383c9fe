import type { Config } from './config/env.js';
import type { ContainerInfo } from './model/container.js';
import { buildDesiredState, type DesiredState, type SelectionContext } from './model/desired-state.js';
import { type RenderedConfigs, renderConfigs } from './render/render-configs.js';
import type { Templates } from './render/load-templates.js';

export interface Plan {
  readonly state: DesiredState;
  readonly rendered: RenderedConfigs;
}

/** The pure core end to end: config + containers + templates -> desired state and both files. */
export function planConfigs(
  config: Config,
  containers: readonly ContainerInfo[],
  templates: Templates,
  context: SelectionContext = {},
): Plan {
  const state = buildDesiredState(containers, config, context);
  return { state, rendered: renderConfigs(config, state, templates) };
}
