import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ENV, ENV_SPECS } from '../../src/config/env-schema.js';
import { INSTANCE_SETTINGS, parseEnvironment } from '../../src/config/env.js';
import { updateEnvExample } from '../../src/config/reference.js';
import { FACTS } from './fixtures.js';

// The shipped deployment files must know every variable the agent reads: a new
// variable in the schema fails here until `npm run docs` (and the Rancher stack) catch up.

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('deployment files and the environment schema', () => {
  it('compose/.env.example is what `npm run docs` prints', () => {
    const example = read('compose/.env.example');
    expect(updateEnvExample(example)).toBe(example);
  });

  it.each(ENV_SPECS.map((s) => s.name))('%s is documented in compose/.env.example and passed by the Rancher stack', (name) => {
    expect(read('compose/.env.example')).toMatch(new RegExp(`^#? ?${name}=`, 'm'));
    expect(read('compose/rancher/docker-compose.yml')).toContain(`${name}: \${${name}`);
  });
});

// compose/rancher: Rancher 1.x reads both files with a YAML 1.1 parser (merge keys), fills
// ${VAR} from the catalog answers, and passes an unanswered one as an empty string.
const hasPyYaml = spawnSync('python3', ['-c', 'import yaml']).status === 0;

describe.skipIf(!hasPyYaml)('the Rancher stack: one instance, or active-active by host label', () => {
  const yaml = (path: string) => {
    const r = spawnSync('python3', ['-c', 'import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', new URL(`../../${path}`, import.meta.url).pathname], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };
  type Service = { labels: Record<string, string>; environment: Record<string, string>; network_mode?: string; cap_add?: string[]; volumes?: string[] };
  const stack = yaml('compose/rancher/docker-compose.yml') as { services: Record<string, Service> };
  const rancher = yaml('compose/rancher/rancher-compose.yml') as { services: Record<string, unknown>; '.catalog': { questions: { variable: string; default?: unknown }[] } };
  const questions = rancher['.catalog'].questions;
  /** The environment Rancher gives a service's containers: ${VAR} from the answers (and the questions' defaults), else empty. */
  const envOf = (service: string, answers: Record<string, string>) => {
    const defaults = Object.fromEntries(questions.filter((q) => q.default !== undefined).map((q) => [q.variable, String(q.default)]));
    const values: Record<string, string> = { ...defaults, ...answers };
    return Object.fromEntries(
      Object.entries(stack.services[service]!.environment).map(([k, v]) => [k, String(v).replace(/\$\{([A-Z0-9_]+)\}/g, (_m, name: string) => values[name] ?? '')]),
    );
  };
  const facts = { ...FACTS, hostname: 'lb1' };

  it.each([
    ['vipkeeper', 'role=load-balancer'],
    ['vipkeeper-a', 'role=load-balancer-a'],
    ['vipkeeper-b', 'role=load-balancer-b'],
  ])('%s: a global service on the %s hosts, in the host network, as the one-instance agent is', (name, hostLabel) => {
    const s = stack.services[name]!;
    expect(s.labels['io.rancher.scheduler.global']).toBe('true');
    expect(s.labels['io.rancher.scheduler.affinity:host_label']).toBe(hostLabel);
    expect([s.network_mode, s.cap_add, s.volumes]).toEqual([stack.services.vipkeeper!.network_mode, stack.services.vipkeeper!.cap_add, stack.services.vipkeeper!.volumes]);
    // Every variable the agent reads is passed through, as for the one-instance service.
    for (const spec of ENV_SPECS.filter((x) => x.name !== 'VIPKEEPER_INSTANCES')) expect(s.environment[spec.name], spec.name).toBe(`\${${spec.name}}`);
    expect(rancher.services[name]).toEqual({ start_on_create: true, upgrade_strategy: { start_first: false } });
  });

  it('one instance: only VIPKEEPER_VIRTUAL_IPS answered, the agent starts with no warning', () => {
    const { config, warnings } = parseEnvironment(envOf('vipkeeper', { VIPKEEPER_VIRTUAL_IPS: '198.18.0.10/24' }), facts);
    expect(config.instances.map((i) => [i.name, i.virtualRouterId])).toEqual([['default', 51]]);
    expect(warnings).toEqual([]);
  });

  const ANSWERS = { VIPKEEPER_INSTANCE_VIPA_VIRTUAL_IPS: '198.18.0.10/24', VIPKEEPER_INSTANCE_VIPB_VIRTUAL_IPS: '198.18.0.20/24', VIPKEEPER_AUTH_PASS: 'pw-12345' };
  it.each([
    ['vipkeeper-a', [['vipa', 150], ['vipb', 100]]],
    ['vipkeeper-b', [['vipa', 100], ['vipb', 150]]],
  ])('active-active, %s: two instances from the questions, mirrored priorities, no warning', (service, priorities) => {
    const { config, warnings } = parseEnvironment(envOf(service, ANSWERS), facts);
    expect(config.instances.map((i) => [i.name, i.priority])).toEqual(priorities);
    expect(config.instances.map((i) => [i.name, i.virtualIps.map((v) => v.address), i.virtualRouterId, i.authPass?.reveal()])).toEqual([
      ['vipa', ['198.18.0.10'], 61, 'pw-12345'],
      ['vipb', ['198.18.0.20'], 62, 'pw-12345'],
    ]);
    expect(warnings).toEqual([]);
  });

  it('active-active: the other per-instance variables reach the agent from an answers file (rancher up -e)', () => {
    const env = envOf('vipkeeper-a', { ...ANSWERS, VIPKEEPER_INSTANCE_VIPB_NOPREEMPT: 'false', VIPKEEPER_INSTANCE_VIPA_AUTH_PASS: 'pw-a' });
    const { config } = parseEnvironment(env, facts);
    expect(config.instances.map((i) => [i.name, i.nopreempt, i.authPass?.reveal()])).toEqual([['vipa', true, 'pw-a'], ['vipb', false, 'pw-12345']]);
    const slots = Object.keys(env).filter((k) => k.startsWith('VIPKEEPER_INSTANCE_')).sort();
    const settings = INSTANCE_SETTINGS.map((k) => ENV[k].name.slice('VIPKEEPER_'.length));
    expect(slots).toEqual(['VIPA', 'VIPB'].flatMap((n) => settings.map((s) => `VIPKEEPER_INSTANCE_${n}_${s}`)).sort());
  });

  it('active-active without the slots answered is refused at start, naming the problem (no half-applied setup)', () => {
    expect(() => parseEnvironment(envOf('vipkeeper-a', { VIPKEEPER_VIRTUAL_IPS: '198.18.0.10/24' }), facts)).toThrow(/already a VIP of instance vipa/);
  });

  it("the questions ask for each slot's VIPs and router id; every question is a variable of the stack", () => {
    const asked = questions.map((q) => q.variable);
    for (const v of ['VIPKEEPER_INSTANCE_VIPA_VIRTUAL_IPS', 'VIPKEEPER_INSTANCE_VIPA_VIRTUAL_ROUTER_ID', 'VIPKEEPER_INSTANCE_VIPB_VIRTUAL_IPS', 'VIPKEEPER_INSTANCE_VIPB_VIRTUAL_ROUTER_ID']) expect(asked).toContain(v);
    const text = read('compose/rancher/docker-compose.yml');
    for (const v of asked) expect(text, v).toContain(`\${${v}}`);
  });
});
