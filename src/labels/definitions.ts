import { showUntrusted } from './parse-labels.js';
import {
  DEFINITION_NAME,
  DEFINITION_NAME_RULE,
  LABEL_PREFIX,
  LABEL_SPECS,
  LABELS,
  RESERVED_DEFINITION_NAMES,
} from './label-schema.js';
import { type KeyOrigin, type LabelDefaults, type LabelProblem, type ParsedLabels, parseLabels } from './parse-labels.js';
import { closestName } from '../util/closest-name.js';

// A container's labels -> its definitions: one unnamed (`vipkeeper.port`, the
// one-service case) or one per name (`vipkeeper.web.port`, `vipkeeper.admin.port`),
// each a service of its own, as Traefik names its routers. Labels are read under
// any prefix (VIPKEEPER_LABEL_PREFIX) and turned into the canonical `vipkeeper.*`
// keys the schema knows; warnings name them as the container spells them.
//
// With named definitions, unnamed labels are defaults for every one of them
// (`vipkeeper.network`, `vipkeeper.check.interval`, ...), except vipkeeper.port and
// vipkeeper.service, which say which definition it is: a named definition's service
// is its name unless `vipkeeper.NAME.service` says otherwise.

/** Settings that come from elsewhere than labels (VIPKEEPER_COMPAT): canonical key -> value and the variable it came from. */
export interface ImpliedLabels {
  readonly labels: Readonly<Record<string, string>>;
  /** canonical key -> the environment variable a warning names. */
  readonly variables: Readonly<Record<string, string>>;
  /** Variables whose value cannot be served at all (unsupported), already judged. */
  readonly problems: readonly LabelProblem[];
  /** Variables read but not acted on, worth a warning. */
  readonly notices: readonly string[];
}

export interface Definition {
  /** null: the unnamed (one-service) definition. */
  readonly name: string | null;
  readonly labels: ParsedLabels;
}

export type DefinitionsResult =
  | {
      ok: true;
      definitions: readonly Definition[];
      unknown: readonly { label: string; closest: string | null }[];
      notices: readonly string[];
    }
  | { ok: false; problems: readonly LabelProblem[] };

export interface DefinitionOptions {
  /** VIPKEEPER_LABEL_PREFIX without the dot; default `vipkeeper`. */
  readonly prefix?: string;
  /** The container's compat variables as labels (null: compat off or none set). */
  readonly implied?: ImpliedLabels | null;
}

const KNOWN = new Set<string>(LABEL_SPECS.map((s) => s.key));
const canonical = (suffix: string) => `${LABEL_PREFIX}${suffix}`;
/** Identify the definition, so never inherited by a named one from the unnamed labels. */
const NOT_INHERITED = new Set<string>([LABELS.port.key, LABELS.service.key]);

/** A container's labels (and implied labels) -> its definitions, or every problem found. Pure. */
export function parseDefinitions(
  labels: Readonly<Record<string, string>>,
  defaults: LabelDefaults,
  options: DefinitionOptions = {},
): DefinitionsResult {
  const prefix = `${options.prefix ?? 'vipkeeper'}.`;
  const problems: LabelProblem[] = [];
  const unnamed: Record<string, string> = {};
  const named = new Map<string, Record<string, string>>();
  const unknownKeys: string[] = [];

  for (const [key, value] of Object.entries(labels)) {
    if (!key.startsWith(prefix)) continue;
    const rest = key.slice(prefix.length);
    if (KNOWN.has(canonical(rest))) {
      unnamed[canonical(rest)] = value;
      continue;
    }
    const dot = rest.indexOf('.');
    const suffix = dot > 0 ? canonical(rest.slice(dot + 1)) : null;
    if (suffix === null || !KNOWN.has(suffix)) {
      unknownKeys.push(key);
      continue;
    }
    const name = rest.slice(0, dot);
    if (!DEFINITION_NAME.test(name) || RESERVED_DEFINITION_NAMES.has(name)) {
      problems.push({ label: showUntrusted(key), shownValue: showUntrusted(value), rule: DEFINITION_NAME_RULE });
      continue;
    }
    const own = named.get(name) ?? {};
    own[suffix] = value;
    named.set(name, own);
  }

  const notices: string[] = [...(options.implied?.notices ?? [])];
  const implied = options.implied ?? null;
  const variables: Record<string, string> = {};
  if (implied !== null && Object.keys(implied.labels).length + implied.problems.length > 0) {
    if (named.size > 0) {
      notices.push(`its nginx-proxy variables (${Object.values(implied.variables).filter(unique).join(', ')}) are ignored: it has named definitions (${prefix}NAME.*)`);
    } else {
      problems.push(...implied.problems);
      // A label always wins over a variable.
      for (const [key, value] of Object.entries(implied.labels)) {
        if (unnamed[key] !== undefined) continue;
        unnamed[key] = value;
        variables[key] = implied.variables[key] ?? key;
      }
    }
  }

  const unnamedOrigin = (key: string): KeyOrigin =>
    variables[key] !== undefined ? { name: variables[key], source: 'env' } : { name: `${prefix}${key.slice(LABEL_PREFIX.length)}`, source: 'label' };

  const definitions: Definition[] = [];
  if (named.size === 0) {
    const parsed = parseLabels(unnamed, defaults, unnamedOrigin);
    if (!parsed.ok) problems.push(...parsed.problems);
    else definitions.push({ name: null, labels: parsed.labels });
  } else {
    const inherited = Object.fromEntries(Object.entries(unnamed).filter(([k]) => !NOT_INHERITED.has(k)));
    for (const name of [...named.keys()].sort()) {
      const own = named.get(name)!;
      const origin = (key: string): KeyOrigin =>
        own[key] !== undefined || inherited[key] === undefined ? { name: `${prefix}${name}.${key.slice(LABEL_PREFIX.length)}`, source: 'label' } : unnamedOrigin(key);
      const parsed = parseLabels({ ...inherited, ...own }, { ...defaults, service: name }, origin);
      if (!parsed.ok) problems.push(...parsed.problems);
      else definitions.push({ name, labels: parsed.labels });
    }
    // vipkeeper.port or vipkeeper.service beside named definitions would silently mean nothing.
    for (const key of NOT_INHERITED) {
      if (unnamed[key] !== undefined) {
        problems.push({ label: unnamedOrigin(key).name, shownValue: showUntrusted(unnamed[key]), rule: `not with named definitions: set ${prefix}NAME.${key.slice(LABEL_PREFIX.length)} on each` });
      }
    }
  }
  if (problems.length > 0) return { ok: false, problems: dedupe(problems) };

  const knownNames = LABEL_SPECS.map((s) => `${prefix}${s.key.slice(LABEL_PREFIX.length)}`);
  const unknown = unknownKeys.sort().map((label) => ({ label, closest: closestName(label, knownNames, 3) }));
  return { ok: true, definitions, unknown, notices };
}

const unique = (v: string, i: number, all: readonly string[]) => all.indexOf(v) === i;

/** An inherited label that breaks its rule shows up once per definition: report it once. */
function dedupe(problems: readonly LabelProblem[]): LabelProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.label}|${p.rule}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
