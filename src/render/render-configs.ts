import ejs from 'ejs';
import { createContext, Script } from 'node:vm';
import { isIpv6Cidr } from '../config/env-schema.js';
import type { Config } from '../config/env.js';
import { runtimePaths } from '../config/paths.js';
import { TemplateError } from '../errors.js';
import type { DesiredState } from '../model/desired-state.js';
import { haproxyView, type HaproxyView } from './haproxy-view.js';
import { tlsPlan } from '../tls/tls-plan.js';
import { keepalivedView } from './keepalived-view.js';
import type { TemplateSource, Templates } from './load-templates.js';

export interface RenderedConfigs {
  readonly haproxyCfg: string;
  readonly keepalivedConf: string;
  /** Access rules (allow list, rate limit, PROXY from front LBs) an overridden template left out: warn, they are not enforced. */
  readonly unprintedAccessRules?: readonly string[];
}

/** The most a template may take to print; a loop in a user's template costs its pass, never the agent. */
export const TEMPLATE_TIMEOUT_MS = 2000;

/** Desired state + config + template text -> both files' bytes. Pure and deterministic. */
export function renderConfigs(config: Config, state: DesiredState, templates: Templates): RenderedConfigs {
  const view = haproxyView(
    state.services,
    {
      adminSocket: runtimePaths(config).adminSocket,
      metricsAddr: config.haproxyMetricsAddr,
      ipv6: config.virtualIps.some(isIpv6Cidr),
      acceptProxy: config.acceptProxy,
      ...(config.peers ? { peers: config.peers } : {}),
      acme: config.acme ? { port: config.frontendPort, mapPath: runtimePaths(config).acmeMap, peers: config.unicastPeers } : null,
    },
    tlsPlan(config, state.certificates),
  );
  const haproxyCfg = printTemplate(templates['haproxy.cfg.ejs'], view);
  const unprinted = templates['haproxy.cfg.ejs'].overridden ? unprintedAccessRules(view, haproxyCfg) : [];
  return {
    haproxyCfg,
    keepalivedConf: printTemplate(templates['keepalived.conf.ejs'], keepalivedView(config)),
    ...(unprinted.length > 0 ? { unprintedAccessRules: unprinted } : {}),
  };
}

/**
 * Access lines of the view that a user's template did not print (one written before
 * vipkeeper.allow existed, say): `haproxy -c` cannot notice a missing deny rule. Pure.
 */
export function unprintedAccessRules(view: HaproxyView, text: string): string[] {
  const printed = new Set(text.split('\n').map((l) => l.trim()));
  const wanted = [
    ...view.frontends.flatMap((f) => f.connectionRules.map((line) => `${f.name}: ${line}`)),
    ...view.backends.flatMap((b) => b.clientRules.filter((l) => !l.includes('X-Forwarded')).map((line) => `${b.name}: ${line}`)),
  ];
  return wanted.filter((w) => !printed.has(w.slice(w.indexOf(': ') + 2)));
}

interface Compiled {
  readonly text: string;
  readonly script: Script;
}

const compiled = new Map<string, Compiled>();
const builtins = new Map<string, { readonly text: string; readonly print: (view: object) => string }>();

/**
 * Prints one template. The compiled template runs in a fresh context of its
 * own with a time limit: it gets a copy of the view model (JSON, so nothing of
 * the agent's realm such as `process` is reachable through it), keeps nothing
 * between prints, and its promise jobs run inside the limit too; an endless
 * loop is stopped after `timeoutMs`. Any failure is a TemplateError naming the
 * file and, where ejs knows it, the line.
 */
export function printTemplate(template: TemplateSource, view: object, timeoutMs = TEMPLATE_TIMEOUT_MS): string {
  if (!template.overridden) return printBuiltin(template, view);
  try {
    let c = compiled.get(template.path);
    if (!c || c.text !== template.text) {
      // filename makes ejs errors point at the user's template line.
      const fn = ejs.compile(template.text, { client: true, filename: template.path, compileDebug: true, async: false });
      const script = new Script(`(${fn.toString()})(JSON.parse(__viewJson))`, { filename: template.path });
      c = { text: template.text, script };
      compiled.set(template.path, c);
    }
    const context = createContext({ __viewJson: JSON.stringify(view) }, { microtaskMode: 'afterEvaluate' });
    const out: unknown = c.script.runInContext(context, { timeout: timeoutMs });
    if (typeof out !== 'string') throw new Error('the template did not print text');
    return out;
  } catch (err) {
    const timedOut = /timed out/i.test((err as Error)?.message ?? '');
    throw new TemplateError(
      template.path,
      timedOut ? new Error(`did not finish printing within ${timeoutMs} ms (an endless loop?)`, { cause: err }) : err,
    );
  }
}

/**
 * The agent's own templates are part of its code, not a user's: they print in the agent's
 * realm. The sandbox costs a fresh V8 context whose code starts cold, and a watchdog thread
 * for the time limit, at every print: a 1000-server haproxy.cfg took ~7 ms there and ~1.7 ms
 * here. A test proves both ways print the same text.
 */
function printBuiltin(template: TemplateSource, view: object): string {
  try {
    let b = builtins.get(template.path);
    if (!b || b.text !== template.text) {
      const fn = ejs.compile(template.text, { filename: template.path, compileDebug: true, async: false });
      b = { text: template.text, print: (v) => fn(v) };
      builtins.set(template.path, b);
    }
    return b.print(view);
  } catch (err) {
    throw new TemplateError(template.path, err);
  }
}
