// First: loads dockerode without gRPC and ssh2, which vipkeeper never uses (see there).
import './load-dockerode.js';
import Docker from 'dockerode';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DockerUnavailableError } from '../errors.js';
import type { ContainerInfo, ContainerSummary } from '../model/container.js';
import { mapBounded } from './bounded.js';
import { type DockerListEntry, mapContainer, mapSummary, type DockerInspect } from './map-container.js';
import type { SwarmNode, SwarmService, SwarmTask } from './map-task.js';

// The Docker edge: one engine, read-only. Speaks the API version the engine
// offers (capped at what we know), so an older dockerd (20.10, API 1.41)
// and a newer one both work.

const NEWEST_KNOWN_API = '1.45';
/** A request that takes longer than this counts as an engine that does not answer. */
const REQUEST_TIMEOUT_MS = 10_000;
const PING_TIMEOUT_MS = 3000;
/** Inspects in flight at once during a full relist. */
export const INSPECT_CONCURRENCY = 32;

export interface EngineTarget {
  readonly endpoint: string;
  /** Directory with ca.pem, cert.pem and key.pem (or a subdirectory named after the host): TLS. */
  readonly tlsCertPath?: string | null;
}

/** What the Swarm API tells about the services carrying a role, in its own shapes. */
export interface SwarmListing {
  readonly services: readonly SwarmService[];
  readonly tasks: readonly SwarmTask[];
  readonly nodes: readonly SwarmNode[];
}

export interface DockerEngine {
  readonly endpoint: string;
  readonly apiVersion: string;
  /** Running and stopped containers carrying `key=value`, mapped to our type (one list, then one inspect each). */
  listLabelled(key: string, value: string): Promise<ContainerInfo[]>;
  /** The ids of the containers carrying `key=value`: one list request, no inspect. */
  listLabelledIds(key: string, value: string): Promise<string[]>;
  /** Every container of the engine, labelled or not, running or not: one list request, no inspect (`vipkeeper check`). */
  listAll(engineName: string): Promise<ContainerSummary[]>;
  /** One container, inspected and mapped; null when it is gone (404). */
  inspectContainer(id: string): Promise<ContainerInfo | null>;
  /** Services carrying `key=value`, their tasks and the swarm's nodes (the engine must be a manager). */
  listSwarm(key: string, value: string): Promise<SwarmListing>;
  /** The engine's own labels (`dockerd --label k=v`), Rancher-style host roles. */
  engineLabels(): Promise<Record<string, string>>;
  /** This engine's swarm node id, or null outside a swarm. */
  swarmNodeId(): Promise<string | null>;
  /** Answers within the request timeout, or throws. */
  ping(): Promise<void>;
  /** Requests with a timeout. */
  readonly api: Docker;
  /** The same engine without a request timeout, for the long-lived event stream. */
  readonly streamApi: Docker;
}

async function modemOptions(target: EngineTarget): Promise<Docker.DockerOptions> {
  const { endpoint } = target;
  // docker-modem fills unset options from DOCKER_HOST, and a host it fills in wins over
  // socketPath: say there is none, so the endpoint we were given is the one used.
  if (endpoint.startsWith('unix://')) return { socketPath: endpoint.slice('unix://'.length), host: undefined, port: undefined, protocol: 'http' };
  const url = new URL(endpoint.replace(/^tcp:/, 'http:'));
  if (!target.tlsCertPath) return { host: url.hostname, port: Number(url.port), protocol: 'http' };
  // One directory for every engine, or one per engine named after its host.
  const perHost = join(target.tlsCertPath, url.hostname);
  const dir = existsSync(join(perHost, 'ca.pem')) ? perHost : target.tlsCertPath;
  const [ca, cert, key] = await Promise.all(['ca.pem', 'cert.pem', 'key.pem'].map((f) => readFile(join(dir, f))));
  return { host: url.hostname, port: Number(url.port), protocol: 'https', ca: ca!, cert: cert!, key: key! };
}

function olderOf(a: string, b: string): string {
  const [am = 0, an = 0] = a.split('.').map(Number);
  const [bm = 0, bn = 0] = b.split('.').map(Number);
  return am < bm || (am === bm && an < bn) ? a : b;
}

export async function connectDocker(target: EngineTarget | string): Promise<DockerEngine> {
  const t: EngineTarget = typeof target === 'string' ? { endpoint: target } : target;
  const endpoint = t.endpoint;
  let options: Docker.DockerOptions;
  let apiVersion: string;
  try {
    options = await modemOptions(t);
    // /version answers without a version prefix on every engine.
    const probe = new Docker({ ...options, timeout: REQUEST_TIMEOUT_MS });
    const v = await probe.version();
    apiVersion = olderOf(v.ApiVersion, NEWEST_KNOWN_API);
  } catch (err) {
    throw new DockerUnavailableError(endpoint, err);
  }
  const api = new Docker({ ...options, version: `v${apiVersion}`, timeout: REQUEST_TIMEOUT_MS });
  const streamApi = new Docker({ ...options, version: `v${apiVersion}` });
  const guarded = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw new DockerUnavailableError(endpoint, err);
    }
  };
  const listLabelledIds = (key: string, value: string): Promise<string[]> =>
    guarded(async () => (await api.listContainers({ all: true, filters: { label: [`${key}=${value}`] } })).map((c) => c.Id));
  const inspectContainer = (id: string): Promise<ContainerInfo | null> =>
    guarded(async () => {
      try {
        return mapContainer((await api.getContainer(id).inspect()) as unknown as DockerInspect);
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode === 404) return null; // removed meanwhile
        throw err;
      }
    });
  const info = () => api.info() as Promise<{ Labels?: string[] | null; Swarm?: { NodeID?: string } }>;

  return {
    endpoint,
    apiVersion,
    api,
    streamApi,
    listLabelled: async (key, value) => {
      // One inspect per labelled container: the list lacks health, exposed ports and binding addresses.
      const found = await mapBounded(await listLabelledIds(key, value), INSPECT_CONCURRENCY, inspectContainer);
      return found.filter((c) => c !== null);
    },
    listLabelledIds,
    listAll: (engineName) =>
      guarded(async () => ((await api.listContainers({ all: true })) as unknown as DockerListEntry[]).map((d) => mapSummary(d, engineName))),
    inspectContainer,
    listSwarm: (key, value) =>
      guarded(async () => {
        const services = (await api.listServices({ filters: { label: [`${key}=${value}`] } })) as unknown as SwarmService[];
        if (services.length === 0) return { services, tasks: [], nodes: [] };
        const [tasks, nodes] = await Promise.all([
          api.listTasks({ filters: { service: services.map((s) => s.ID) } }) as Promise<SwarmTask[]>,
          api.listNodes() as Promise<SwarmNode[]>,
        ]);
        return { services, tasks, nodes };
      }),
    engineLabels: () =>
      guarded(async () => {
        const labels: Record<string, string> = {};
        for (const entry of (await info()).Labels ?? []) {
          const eq = entry.indexOf('=');
          if (eq > 0) labels[entry.slice(0, eq)] = entry.slice(eq + 1);
        }
        return labels;
      }),
    swarmNodeId: () => guarded(async () => (await info()).Swarm?.NodeID || null),
    // Short: the heartbeat's answer to "is this host still there?" should not take the request timeout.
    ping: () =>
      guarded(async () => {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer to a ping within ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS);
        });
        try {
          await Promise.race([api.ping(), late]);
        } finally {
          clearTimeout(timer);
        }
      }),
  };
}
