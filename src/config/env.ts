import type { EnvProblem } from '../errors.js';
import { ConfigError } from '../errors.js';
import { ENV, ENV_SPECS, type Cidr, type EngineSpec, type EnvVarSpec, INSTANCE_NAME, isIpv6Cidr, LOG_LEVELS } from './env-schema.js';
import type { HostFacts } from './host-facts.js';
import { ABSOLUTE_PATH, inSubnet, IPV4, quoteUntrusted, ROUTER_ID } from './patterns.js';
import { maskSecret, Secret } from './secret.js';
import { closestName } from '../util/closest-name.js';

/**
 * The first instance's VRRP settings at the top (what the one-instance agent always had),
 * except `virtualIps`: every VIP of every instance, what this node may hold.
 */
export interface Config extends Pick<VrrpInstanceConfig, 'virtualIps' | 'interface' | 'virtualRouterId' | 'priority' | 'state' | 'nopreempt' | 'advertInt' | 'authPass'> {
  readonly vrrpVersion: 2 | 3;
  readonly unicastPeers: readonly string[];
  /** HAProxy peers for sticky services' stick tables: every node by address, and which is this one. */
  readonly peers?: PeersConfig;
  readonly routerId: string;
  readonly roleLabel: string;
  readonly backendRole: string;
  /** VIPKEEPER_LABEL_PREFIX without the dot: `vipkeeper`. */
  readonly labelPrefix: string;
  /** VIPKEEPER_COMPAT: whose environment-variable contract is served too, or null. */
  readonly compat: 'nginx-proxy' | null;
  readonly nodeRole: string | null;
  readonly publishedHost: string | null;
  readonly frontendPort: number;
  /** HTTPS: the port, the certificates directory, the default certificate (null: self-signed), and the TLS settings. */
  readonly httpsPort: number;
  readonly certsDir: string;
  readonly defaultCert: string | null;
  readonly tlsCiphers: string;
  readonly tlsMinVersion: 'TLSv1.2' | 'TLSv1.3';
  /** ACME (VIPKEEPER_ACME_*): null or absent when off. */
  readonly acme?: AcmeConfig | null;
  /** This host's own engine: the node role gate asks it. */
  readonly dockerHost: string;
  /** Engines whose containers (or, with Swarm, whose managers' tasks) are the backends. */
  readonly engines: readonly EngineConfig[];
  readonly engineGraceMs: number;
  readonly appNodeRole: string | null;
  readonly swarm: boolean;
  readonly configDir: string;
  readonly runDir: string;
  readonly templatesDir: string | null;
  readonly logLevel: (typeof LOG_LEVELS)[number];
  readonly logFormat: 'json' | 'pretty';
  readonly statusAddr: { readonly host: string; readonly port: number };
  /** HAProxy's own Prometheus exporter (`use-service prometheus-exporter`), or null: off. */
  readonly haproxyMetricsAddr: { readonly host: string; readonly port: number } | null;
  /** VIPKEEPER_ACCEPT_PROXY: canonical CIDRs of front load balancers that send PROXY protocol; empty: none. */
  readonly acceptProxy: readonly string[];
  /** Derived from the host, not a variable: keepalived's track_process works only in the initial netns. */
  readonly trackProcess: boolean;
  /**
   * The VRRP instances, at least one. Without VIPKEEPER_INSTANCES: one, named `default`, from the
   * global variables. The single-valued VRRP fields above (interface, virtualRouterId, priority, ...)
   * are the first instance's.
   */
  readonly instances: readonly VrrpInstanceConfig[];
}

/** ACME: on when VIPKEEPER_ACME_EMAIL is set. */
export interface AcmeConfig {
  readonly email: string;
  readonly directoryUrl: string;
  /** VIPKEEPER_ACME_CA_FILE: a path; the agent reads it at start. */
  readonly caFile: string | null;
  readonly allHosts: boolean;
  readonly retryMinMs: number;
  /** VIPKEEPER_ACME_BACKUP_DELAY: a node without the VIP waits this long before its own order. */
  readonly backupDelayMs: number;
}

/** One VRRP instance: its VIPs move together, its priority is its own. */
export interface VrrpInstanceConfig {
  /** The operator's name (`web`); `default` without VIPKEEPER_INSTANCES. */
  readonly name: string;
  /** keepalived's vrrp_instance name: `vipkeeper_<router id>` for the one instance (as always), `vipkeeper_<name>` among several. */
  readonly keepalivedName: string;
  readonly virtualIps: readonly Cidr[];
  readonly interface: string;
  readonly virtualRouterId: number;
  readonly priority: number;
  readonly state: 'BACKUP' | 'MASTER';
  readonly nopreempt: boolean;
  readonly advertInt: number;
  readonly authPass: Secret | null;
}

/** The variables an instance may set for itself; any other stays global. */
export const INSTANCE_SETTINGS = ['virtualIps', 'virtualRouterId', 'priority', 'state', 'nopreempt', 'interface', 'advertInt', 'authPass', 'authPassFile'] as const;
type InstanceSetting = (typeof INSTANCE_SETTINGS)[number];

/** `VIPKEEPER_INSTANCE_WEB_PRIORITY` for instance `web` and VIPKEEPER_PRIORITY. */
export function instanceVariable(instance: string, global: string): string {
  return `VIPKEEPER_INSTANCE_${instance.toUpperCase()}_${global.slice('VIPKEEPER_'.length)}`;
}

/** The global rule under the instance's own name. */
function instanceSpec<T>(instance: string, spec: EnvVarSpec<T>): EnvVarSpec<T> {
  return { ...spec, name: instanceVariable(instance, spec.name) as `VIPKEEPER_${string}` };
}

export interface PeersConfig {
  readonly port: number;
  /** The local peer's name (its address); HAProxy's `localpeer`. */
  readonly local: string;
  /** Every node, this one included, sorted: the same list on every node. */
  readonly addresses: readonly string[];
}

export interface EngineConfig extends EngineSpec {
  /** Short unique name: in logs, status, and in server names when there are several engines. */
  readonly name: string;
  /** TLS for a tcp endpoint (DOCKER_TLS_VERIFY): the certificate directory to look in. */
  readonly tlsCertPath: string | null;
}

export interface EnvWarning {
  readonly variable: string;
  readonly message: string;
}

export interface ParsedEnvironment {
  readonly config: Config;
  readonly warnings: readonly EnvWarning[];
}

/** What the edge read from a password file (VIPKEEPER_AUTH_PASS_FILE or an instance's), if it is set. */
export type AuthPassFileRead = { readonly content: string } | { readonly error: string };

/** The edge's reads of every password file, by path (passFilePaths); undefined: that file was not read. */
export type PassFileReads = (path: string) => AuthPassFileRead | undefined;

/**
 * The password files the environment names: VIPKEEPER_AUTH_PASS_FILE and each named instance's
 * VIPKEEPER_INSTANCE_<NAME>_AUTH_PASS_FILE, each path once. The edge reads these (and follows
 * them); parseEnvironment checks the paths and the contents.
 */
export function passFilePaths(env: Readonly<Record<string, string | undefined>>): string[] {
  const names = (env[ENV.instances.name] ?? '').split(/[\s,]+/).map((n) => n.toLowerCase()).filter((n) => INSTANCE_NAME.test(n));
  const variables = [ENV.authPassFile.name, ...names.map((n) => instanceVariable(n, ENV.authPassFile.name))];
  return [...new Set(variables.map((v) => env[v]?.trim() ?? '').filter((p) => p !== ''))];
}

/** What the edge found at VIPKEEPER_TEMPLATES_DIR, if it is set: a readable directory, or the error code. */
export type DirectoryCheck = { readonly directory: true } | { readonly error: string };

/** Mozilla's "intermediate" TLS 1.2 ciphers (ssl-config.mozilla.org, version 5.7). */
export const MOZILLA_INTERMEDIATE_CIPHERS =
  'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305';

export const DEFAULT_DOCKER_SOCKET = 'unix:///var/run/docker.sock';
const KEEPALIVED_PASS_LENGTH = 8;

function shown(spec: EnvVarSpec<unknown>, raw: string): string {
  if (spec.secret) return maskSecret(raw);
  // Values are printed quoted and escaped so control characters stay visible and harmless.
  return quoteUntrusted(raw, 80);
}

/**
 * Environment -> Config. Pure: host facts, the password files' contents and the
 * templates directory are read or checked by the caller (load-environment.ts);
 * `passFiles` looks up what was read from each password file by its path;
 * a templates directory the caller did not check is taken as it is. Throws one
 * ConfigError naming every bad variable.
 */
export function parseEnvironment(
  env: Readonly<Record<string, string | undefined>>,
  facts: HostFacts,
  passFiles?: PassFileReads,
  templatesDirCheck?: DirectoryCheck,
): ParsedEnvironment {
  const problems: EnvProblem[] = [];
  const warnings: EnvWarning[] = [];
  const problem = (spec: EnvVarSpec<unknown>, rule: string) =>
    problems.push({ variable: spec.name, shownValue: shown(spec, env[spec.name] ?? ''), rule });

  // Present and valid -> value; unset -> undefined (caller applies default);
  // present and invalid -> recorded problem, undefined.
  const read = <T>(spec: EnvVarSpec<T>): T | undefined | null => {
    const raw = env[spec.name];
    if (raw === undefined) return undefined;
    const trimmed = raw.trim();
    if (trimmed === '') return spec.emptyMeansNone ? null : undefined;
    const result = spec.schema.safeParse(trimmed);
    if (result.success) return result.data;
    const messages = [...new Set(result.error.issues.map((i) => i.message))];
    problem(spec as EnvVarSpec<unknown>, messages.join('; '));
    return undefined;
  };

  const instancesSet = (env[ENV.instances.name]?.trim() ?? '') !== '';
  // A bad name is a problem, but the good ones are still checked, so every problem is named at once.
  const instanceNames =
    read(ENV.instances) ??
    (instancesSet ? env[ENV.instances.name]!.split(/[\s,]+/).map((n) => n.toLowerCase()).filter((n) => INSTANCE_NAME.test(n)) : null);
  const virtualIps = read(ENV.virtualIps);
  if (!instancesSet && (env[ENV.virtualIps.name] === undefined || env[ENV.virtualIps.name]?.trim() === '')) {
    problem(ENV.virtualIps as EnvVarSpec<unknown>, 'is required: at least one VIP in CIDR form like 198.18.0.10/24');
  }
  const vrrpVersion = read(ENV.vrrpVersion) ?? 2;
  const advertInt = read(ENV.advertInt) ?? 1;
  const state = read(ENV.state) ?? 'BACKUP';
  const nopreempt = read(ENV.nopreempt) ?? true;

  if (state === 'MASTER' && nopreempt) {
    problem(ENV.state as EnvVarSpec<unknown>, 'MASTER contradicts VIPKEEPER_NOPREEMPT=true (keepalived ignores nopreempt unless the state is BACKUP); use BACKUP or set VIPKEEPER_NOPREEMPT=false');
  }
  if (vrrpVersion === 2 && !Number.isInteger(advertInt)) {
    problem(ENV.advertInt as EnvVarSpec<unknown>, 'fractional seconds need VIPKEEPER_VRRP_VERSION=3');
  }
  if (vrrpVersion === 3 && advertInt > 40.95) {
    problem(ENV.advertInt as EnvVarSpec<unknown>, 'must be at most 40.95 seconds with VRRP version 3');
  }

  // Password: inline or from a file, never both; version 3 has no authentication.
  // The files' contents come from the caller, by path (load-environment.ts reads them).
  const fileRead = (path: string): AuthPassFileRead | undefined => passFiles?.(path);
  /** The password an inline variable or its _FILE twin gives, uncut, and the variable it came from; null when neither is set or usable. */
  const passwordFrom = (inlineSpec: EnvVarSpec<string>, fileSpec: EnvVarSpec<string>): { value: string; spec: EnvVarSpec<string> } | null => {
    const inline = read(inlineSpec);
    const path = read(fileSpec);
    if (inline && path) {
      problem(fileSpec as EnvVarSpec<unknown>, `set either ${inlineSpec.name} or ${fileSpec.name}, not both`);
      return null;
    }
    if (inline) return { value: inline, spec: inlineSpec };
    if (!path) return null;
    const got = fileRead(path);
    if (!got) {
      problem(fileSpec as EnvVarSpec<unknown>, 'the file was not read');
    } else if ('error' in got) {
      problem(fileSpec as EnvVarSpec<unknown>, `cannot read the file: ${got.error}`);
    } else {
      // The content is checked against the inline rule; its messages never quote the value.
      const check = ENV.authPass.schema.safeParse(got.content.replace(/\r?\n$/, ''));
      if (check.success) return { value: check.data, spec: fileSpec };
      problem(fileSpec as EnvVarSpec<unknown>, `the password in the file ${check.error.issues[0]?.message ?? 'is invalid'}`);
    }
    return null;
  };
  let authPass: Secret | null = null;
  const globalPass = passwordFrom(ENV.authPass, ENV.authPassFile);
  if (globalPass && vrrpVersion === 3) {
    problem(ENV.vrrpVersion as EnvVarSpec<unknown>, 'VRRP version 3 has no authentication: unset VIPKEEPER_AUTH_PASS(_FILE) or use version 2');
  }
  if (globalPass) {
    if (globalPass.value.length > KEEPALIVED_PASS_LENGTH) {
      // keepalived itself would cut it too, but `keepalived -t` then exits 5 and the file is refused.
      warnings.push({
        variable: globalPass.spec.name,
        message: `the VRRP password has ${globalPass.value.length} characters; only the first ${KEEPALIVED_PASS_LENGTH} are used (keepalived's limit), so every node must share those ${KEEPALIVED_PASS_LENGTH}`,
      });
    }
    authPass = new Secret(globalPass.value.slice(0, KEEPALIVED_PASS_LENGTH));
  }

  // Interface: explicit, else the one whose subnet holds the first VIP, else the default route's.
  let iface = read(ENV.interface) ?? undefined;
  if (iface !== undefined && facts.interfaces.length > 0 && !facts.interfaces.some((i) => i.name === iface)) {
    // keepalived -t would refuse the file (exit 3); a variable naming no interface is a bad environment.
    problem(ENV.interface as EnvVarSpec<unknown>, missingInterface(iface, facts.interfaces.map((i) => i.name)));
  }
  const explicitIface = iface;
  const detectInterface = (vips: readonly Cidr[], variable: string): string | undefined => {
    const vip = vips.find((v) => !isIpv6Cidr(v)) ?? vips[0];
    if (!vip) return undefined;
    const found =
      (isIpv6Cidr(vip) ? undefined : facts.interfaces.find((i) => i.addresses.some((a) => inSubnet(vip.address, a.address, a.prefix)))?.name) ??
      facts.defaultInterface ??
      undefined;
    if (found === undefined) {
      problems.push({
        variable,
        shownValue: '(unset)',
        rule: `no interface has a subnet holding ${vip.address} and there is no default route: set it`,
      });
    }
    return found;
  };
  if (iface === undefined && virtualIps && virtualIps[0]) iface = detectInterface(virtualIps, ENV.interface.name);

  const ownAddresses = new Set(facts.interfaces.flatMap((i) => i.addresses.map((a) => a.address)));
  const peers = read(ENV.unicastPeers) ?? [];
  const unicastPeers = [...new Set(peers.filter((p) => !ownAddresses.has(p)))];
  const peersRaw = peers;

  let routerId = read(ENV.routerId) ?? undefined;
  if (routerId === undefined) {
    // The hostname is trusted more than a label but still checked: it is printed into keepalived.conf.
    const host = facts.hostname.split('.')[0] ?? '';
    if (ROUTER_ID.test(host)) routerId = host;
    else
      problems.push({
        variable: ENV.routerId.name,
        shownValue: '(unset)',
        rule: `the hostname ${quoteUntrusted(facts.hostname)} is not a valid router_id: set one`,
      });
  }

  /** Each named instance: its own variables, else the global values; checked as the globals are. */
  function readInstances(names: readonly string[]): VrrpInstanceConfig[] {
    const out: VrrpInstanceConfig[] = [];
    const seenNames = new Set<string>();
    for (const raw of names) {
      const name = raw.toLowerCase();
      if (!INSTANCE_NAME.test(name)) continue; // the schema refused it already
      if (seenNames.has(name)) {
        problem(ENV.instances as EnvVarSpec<unknown>, `names ${name} twice`);
        continue;
      }
      seenNames.add(name);
      const own = <T>(spec: EnvVarSpec<T>) => read(instanceSpec(name, spec)) ?? undefined;
      const vips = own(ENV.virtualIps) ?? virtualIps ?? undefined;
      if (vips === undefined) {
        const variable = instanceVariable(name, ENV.virtualIps.name);
        if (env[variable] === undefined || env[variable]!.trim() === '') {
          problems.push({ variable, shownValue: '(unset)', rule: `instance ${name} has no VIPs: set it (or VIPKEEPER_VIRTUAL_IPS for every instance)` });
        }
      }
      const instState = own(ENV.state) ?? state;
      const instNopreempt = own(ENV.nopreempt) ?? nopreempt;
      const instAdvert = own(ENV.advertInt) ?? advertInt;
      const ownPass = passwordFrom(instanceSpec(name, ENV.authPass), instanceSpec(name, ENV.authPassFile));
      const stateVar = instanceSpec(name, ENV.state);
      if (instState === 'MASTER' && instNopreempt && (env[stateVar.name] !== undefined || env[instanceVariable(name, ENV.nopreempt.name)] !== undefined)) {
        problem(stateVar as EnvVarSpec<unknown>, `MASTER contradicts nopreempt (keepalived ignores nopreempt unless the state is BACKUP); use BACKUP or set ${instanceVariable(name, ENV.nopreempt.name)}=false`);
      }
      const advertSpec = instanceSpec(name, ENV.advertInt);
      if (env[advertSpec.name] !== undefined && vrrpVersion === 2 && !Number.isInteger(instAdvert)) {
        problem(advertSpec as EnvVarSpec<unknown>, 'fractional seconds need VIPKEEPER_VRRP_VERSION=3');
      }
      if (env[advertSpec.name] !== undefined && vrrpVersion === 3 && instAdvert > 40.95) {
        problem(advertSpec as EnvVarSpec<unknown>, 'must be at most 40.95 seconds with VRRP version 3');
      }
      // Its own password, inline or from its own file; else the global one.
      let instPass = authPass;
      if (ownPass) {
        if (vrrpVersion === 3) problem(ownPass.spec as EnvVarSpec<unknown>, 'VRRP version 3 has no authentication');
        else if (ownPass.value.length > KEEPALIVED_PASS_LENGTH) {
          warnings.push({ variable: ownPass.spec.name, message: `the VRRP password has ${ownPass.value.length} characters; only the first ${KEEPALIVED_PASS_LENGTH} are used (keepalived's limit)` });
        }
        instPass = new Secret(ownPass.value.slice(0, KEEPALIVED_PASS_LENGTH));
      }
      const ifaceSpec = instanceSpec(name, ENV.interface);
      let instIface = own(ENV.interface);
      if (instIface !== undefined && facts.interfaces.length > 0 && !facts.interfaces.some((i) => i.name === instIface)) {
        problem(ifaceSpec as EnvVarSpec<unknown>, missingInterface(instIface, facts.interfaces.map((i) => i.name)));
      }
      instIface ??= explicitIface ?? (vips ? detectInterface(vips, ifaceSpec.name) : undefined);
      out.push({
        name,
        keepalivedName: `vipkeeper_${name}`,
        virtualIps: vips ?? [],
        interface: instIface ?? '',
        virtualRouterId: own(ENV.virtualRouterId) ?? globalInstance.virtualRouterId,
        priority: own(ENV.priority) ?? globalInstance.priority,
        state: instState,
        nopreempt: instNopreempt,
        advertInt: instAdvert,
        authPass: instPass,
      });
    }
    return out;
  }

  const globalInstance = {
    virtualIps: virtualIps ?? [],
    interface: iface ?? '',
    virtualRouterId: read(ENV.virtualRouterId) ?? 51,
    priority: read(ENV.priority) ?? 100,
    state,
    nopreempt,
    advertInt,
    authPass,
  };
  const instances: VrrpInstanceConfig[] =
    instanceNames === null
      ? [{ name: 'default', keepalivedName: `vipkeeper_${globalInstance.virtualRouterId}`, ...globalInstance }]
      : readInstances(instanceNames);

  // Across instances: an address or a router id is one instance's; IPv6 needs VRRP version 3.
  const vipOwner = new Map<string, string>();
  const vridOwner = new Map<number, string>();
  const several = instanceNames !== null;
  const variableOf = (inst: VrrpInstanceConfig, setting: InstanceSetting) => {
    const global = ENV[setting].name;
    return several && (env[instanceVariable(inst.name, global)]?.trim() ?? '') !== '' ? instanceVariable(inst.name, global) : global;
  };
  const instanceProblem = (inst: VrrpInstanceConfig, setting: InstanceSetting, rule: string) => {
    const variable = variableOf(inst, setting);
    problems.push({ variable, shownValue: env[variable] === undefined ? '(unset)' : shown(ENV[setting] as EnvVarSpec<unknown>, env[variable]!), rule });
  };
  for (const inst of instances) {
    const v6 = inst.virtualIps.filter(isIpv6Cidr);
    if (v6.length > 0 && vrrpVersion === 2) {
      instanceProblem(inst, 'virtualIps', `IPv6 addresses (${v6.map((v) => v.address).join(', ')}) need VIPKEEPER_VRRP_VERSION=3`);
    }
    if (v6.length === inst.virtualIps.length && v6.length > 0 && unicastPeers.length > 0) {
      instanceProblem(inst, 'virtualIps', 'an instance of IPv6 addresses only speaks VRRP over IPv6, but VIPKEEPER_UNICAST_PEERS are IPv4: add an IPv4 VIP to the instance or use multicast');
    }
    if (!several) continue;
    for (const vip of inst.virtualIps) {
      const owner = vipOwner.get(vip.address);
      if (owner !== undefined) instanceProblem(inst, 'virtualIps', `${vip.address} is already a VIP of instance ${owner}`);
      else vipOwner.set(vip.address, inst.name);
    }
    const owner = vridOwner.get(inst.virtualRouterId);
    if (owner !== undefined) instanceProblem(inst, 'virtualRouterId', `virtual router id ${inst.virtualRouterId} is already instance ${owner}'s: each instance needs its own`);
    else vridOwner.set(inst.virtualRouterId, inst.name);
  }

  const nodeRole = read(ENV.nodeRole);

  const fromDockerHost = env.DOCKER_HOST?.trim();
  let dockerHost = read(ENV.dockerHost) ?? undefined;
  if (dockerHost === undefined && fromDockerHost) {
    const check = ENV.dockerHost.schema.safeParse(fromDockerHost);
    if (check.success) dockerHost = check.data;
    else problems.push({ variable: 'DOCKER_HOST', shownValue: quoteUntrusted(fromDockerHost, 80), rule: 'must be unix:///path or tcp://host:port' });
  }

  // TLS as the docker CLI reads it: any non-empty DOCKER_TLS_VERIFY turns it on for tcp endpoints.
  const tlsVerify = (env.DOCKER_TLS_VERIFY ?? '').trim() !== '';
  const certPath = env.DOCKER_CERT_PATH?.trim() || null;
  if (tlsVerify && (certPath === null || !ABSOLUTE_PATH.test(certPath))) {
    problems.push({
      variable: 'DOCKER_CERT_PATH',
      shownValue: certPath === null ? '(unset)' : quoteUntrusted(certPath, 80),
      rule: 'DOCKER_TLS_VERIFY is set: DOCKER_CERT_PATH must be the absolute path of a directory with ca.pem, cert.pem and key.pem',
    });
  }
  const swarm = read(ENV.swarm) ?? false;
  const listed = read(ENV.dockerHosts) ?? [];
  // A listed tcp engine's ports are reached at its host unless it says otherwise; the single
  // VIPKEEPER_DOCKER_HOST keeps the VIPKEEPER_PUBLISHED_HOST rule.
  const engineSpecs: EngineSpec[] =
    listed.length > 0
      ? listed.map((e) => ({ ...e, advertise: e.advertise ?? (e.endpoint.startsWith('tcp://') ? e.endpoint.slice(6, e.endpoint.lastIndexOf(':')).toLowerCase() : null) }))
      : [{ endpoint: dockerHost ?? DEFAULT_DOCKER_SOCKET, advertise: null }];
  const engines = nameEngines(engineSpecs).map((e) => ({ ...e, tlsCertPath: tlsVerify && e.endpoint.startsWith('tcp://') ? certPath : null }));
  const seen = new Set<string>();
  for (const e of engines) {
    if (seen.has(e.endpoint)) {
      problem(ENV.dockerHosts as EnvVarSpec<unknown>, `lists ${e.endpoint} twice`);
    }
    seen.add(e.endpoint);
  }

  // A directory that is not there would silently mean "the built-in templates".
  const templatesDir = read(ENV.templatesDir) ?? null;
  if (templatesDir !== null && templatesDirCheck && 'error' in templatesDirCheck) {
    problem(ENV.templatesDir as EnvVarSpec<unknown>, directoryProblem(templatesDirCheck.error));
  }

  const first = instances[0] ?? { ...globalInstance, name: 'default', keepalivedName: 'vipkeeper_51' };
  const frontendPort = read(ENV.frontendPort) ?? 80;
  const haproxyPeers = peersOf(read(ENV.peers) ?? undefined, peersPort(read(ENV.peersPort) ?? undefined), ownAddresses, peerList(peersRaw, facts, first.interface, first.virtualIps), (m) =>
    problem(ENV.peers as EnvVarSpec<unknown>, m),
  );
  const httpsPort = read(ENV.httpsPort) ?? 443;
  if (httpsPort === frontendPort) {
    problem(ENV.httpsPort as EnvVarSpec<unknown>, `must differ from VIPKEEPER_FRONTEND_PORT (${frontendPort})`);
  }
  if (haproxyPeers.port === frontendPort || haproxyPeers.port === httpsPort) {
    // HAProxy would fail to bind one of them, and the whole file would be refused.
    problem(ENV.peersPort as EnvVarSpec<unknown>, `must differ from VIPKEEPER_FRONTEND_PORT (${frontendPort}) and VIPKEEPER_HTTPS_PORT (${httpsPort})`);
  }
  const configDir = read(ENV.configDir) ?? '/etc/vipkeeper';
  const statusAddr = read(ENV.statusAddr) ?? { host: '127.0.0.1', port: 9321 };
  if (httpsPort === statusAddr.port) {
    problem(ENV.httpsPort as EnvVarSpec<unknown>, `must differ from the port of VIPKEEPER_STATUS_ADDR (${statusAddr.port})`);
  }

  const acmeEmail = read(ENV.acmeEmail) ?? null;
  // Read (and so checked) whether or not ACME is on: a bad value is reported either way.
  const acmeRest = {
    directoryUrl: read(ENV.acmeDirectory) ?? 'https://acme-v02.api.letsencrypt.org/directory',
    caFile: read(ENV.acmeCaFile) ?? null,
    allHosts: read(ENV.acmeAllHosts) ?? false,
    retryMinMs: read(ENV.acmeRetryMin) ?? 60_000,
    backupDelayMs: read(ENV.acmeBackupDelay) ?? 60_000,
  };
  const config = {
    virtualIps: instances.flatMap((i) => i.virtualIps),
    interface: first.interface,
    virtualRouterId: first.virtualRouterId,
    priority: first.priority,
    state: first.state,
    nopreempt: first.nopreempt,
    vrrpVersion,
    advertInt: first.advertInt,
    unicastPeers,
    peers: haproxyPeers,
    authPass: first.authPass,
    routerId: routerId ?? '',
    roleLabel: read(ENV.roleLabel) ?? 'role',
    backendRole: read(ENV.backendRole) ?? 'apps',
    labelPrefix: read(ENV.labelPrefix) ?? 'vipkeeper',
    compat: read(ENV.compat) ?? null,
    // Unset -> the default role; set but empty -> null, meaning "no check".
    nodeRole: nodeRole === undefined ? 'load-balancer' : nodeRole,
    publishedHost: read(ENV.publishedHost) ?? null,
    frontendPort,
    httpsPort,
    certsDir: read(ENV.certsDir) ?? `${configDir.replace(/\/+$/, '')}/certs`,
    defaultCert: read(ENV.defaultCert) ?? null,
    tlsCiphers: read(ENV.tlsCiphers) ?? MOZILLA_INTERMEDIATE_CIPHERS,
    tlsMinVersion: read(ENV.tlsMinVersion) ?? 'TLSv1.2',
    acme: acmeEmail ? { email: acmeEmail, ...acmeRest } : null,
    dockerHost: dockerHost ?? DEFAULT_DOCKER_SOCKET,
    engines,
    engineGraceMs: read(ENV.engineGrace) ?? 10_000,
    appNodeRole: read(ENV.appNodeRole) ?? null,
    swarm,
    configDir,
    runDir: read(ENV.runDir) ?? '/run/vipkeeper',
    templatesDir,
    logLevel: read(ENV.logLevel) ?? 'info',
    logFormat: read(ENV.logFormat) ?? 'json',
    statusAddr,
    haproxyMetricsAddr: read(ENV.haproxyMetricsAddr) ?? null,
    acceptProxy: read(ENV.acceptProxy) ?? [],
    trackProcess: facts.initialNetns ?? true,
    instances,
  } satisfies Config;

  const instanceVariables = new Set(
    (instanceNames ?? []).flatMap((n) => INSTANCE_SETTINGS.map((k) => instanceVariable(n, ENV[k].name))),
  );
  for (const name of Object.keys(env)) {
    if (name.startsWith('VIPKEEPER_') && !ENV_SPECS.some((s) => s.name === name) && !instanceVariables.has(name)) {
      const closest = closestName(name, ENV_SPECS.map((s) => s.name), Math.max(3, Math.floor(name.length / 4)));
      warnings.push({ variable: name, message: `unknown variable${closest ? `; did you mean ${closest}?` : ''}` });
    }
  }

  // HAProxy binds with SO_REUSEPORT: two of its frontends on one port would share it silently.
  const metricsClash = !config.haproxyMetricsAddr
    ? null
    : config.haproxyMetricsAddr.port === config.statusAddr.port
      ? `its port must differ from VIPKEEPER_STATUS_ADDR's (${config.statusAddr.port})`
      : config.haproxyMetricsAddr.port === config.frontendPort
        ? `its port must differ from VIPKEEPER_FRONTEND_PORT (${config.frontendPort})`
        : config.haproxyMetricsAddr.port === config.httpsPort
          ? `its port must differ from VIPKEEPER_HTTPS_PORT (${config.httpsPort})`
          : null;
  if (config.haproxyMetricsAddr && metricsClash) {
    problems.push({ variable: ENV.haproxyMetricsAddr.name, shownValue: `${config.haproxyMetricsAddr.host}:${config.haproxyMetricsAddr.port}`, rule: metricsClash });
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return { config, warnings };
}

function directoryProblem(code: string): string {
  if (code === 'ENOENT') return 'the directory does not exist (unset the variable to use the built-in templates)';
  if (code === 'ENOTDIR') return 'is not a directory';
  return `cannot read the directory: ${code}`;
}

const LISTED_INTERFACES = 8;

function missingInterface(name: string, present: readonly string[]): string {
  const names = [...new Set(present)].sort();
  const closest = closestName(name, names, Math.max(1, Math.floor(name.length / 3)));
  if (closest) return `no interface ${name} in this network namespace; did you mean ${closest}?`;
  const listed = names.slice(0, LISTED_INTERFACES).join(', ');
  return `no interface ${name} in this network namespace (it has: ${listed}${names.length > LISTED_INTERFACES ? `, ... ${names.length} in all` : ''})`;
}

/** Engine names: the tcp host, or `local` for a socket; a repeated name gets -2, -3 ... */
export function nameEngines(specs: readonly EngineSpec[]): (EngineSpec & { name: string })[] {
  const used = new Map<string, number>();
  return specs.map((s) => {
    const base = s.endpoint.startsWith('tcp://') ? s.endpoint.slice(6, s.endpoint.lastIndexOf(':')).toLowerCase() : 'local';
    const n = (used.get(base) ?? 0) + 1;
    used.set(base, n);
    return { ...s, name: n === 1 ? base : `${base}-${n}` };
  });
}

const peersPort = (p: number | undefined) => p ?? 10_000;

/** The default peer list: this node's IPv4 address on its VRRP interface (not a VIP) and the unicast peers. */
function peerList(unicast: readonly string[], facts: HostFacts, iface: string, vips: readonly Cidr[]): string[] {
  if (unicast.length === 0) return [];
  const vipSet = new Set(vips.map((v) => v.address));
  const own = facts.interfaces.find((i) => i.name === iface)?.addresses.find((a) => IPV4.test(a.address) && !vipSet.has(a.address))?.address;
  return own ? [own, ...unicast] : [];
}

/** HAProxy peers: the explicit list or the derived one; this host must be in it exactly once. Pure. */
export function peersOf(
  explicit: readonly string[] | undefined,
  port: number,
  own: ReadonlySet<string>,
  derived: readonly string[],
  problem: (message: string) => void,
): PeersConfig {
  const addresses = [...new Set(explicit ?? derived)].sort();
  if (addresses.length === 0) return { port, local: '127.0.0.1', addresses: ['127.0.0.1'] };
  const mine = addresses.filter((a) => own.has(a));
  if (mine.length !== 1 && explicit !== undefined && own.size > 0) {
    problem(mine.length === 0 ? 'none of these addresses is one of this host: list every load-balancer node, this one included' : `lists ${mine.join(' and ')}, which are all this host: list one address per node`);
  }
  return { port, local: mine[0] ?? addresses[0]!, addresses };
}
