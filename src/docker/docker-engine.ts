import Docker from 'dockerode';
import { DockerUnavailableError } from '../errors.js';
import type { ContainerInfo } from '../model/container.js';
import { mapContainer, type DockerInspect } from './map-container.js';

// The Docker edge: one engine, read-only. Speaks the API version the engine
// offers (capped at what we know), so an older dockerd (20.10, API 1.41)
// and a newer one both work.

const NEWEST_KNOWN_API = '1.45';

export interface DockerEngine {
  readonly endpoint: string;
  readonly apiVersion: string;
  /** Running and stopped containers carrying `key=value`, mapped to our type. */
  listLabelled(key: string, value: string): Promise<ContainerInfo[]>;
  /** The engine's own labels (`dockerd --label k=v`), Rancher-style host roles. */
  engineLabels(): Promise<Record<string, string>>;
  readonly api: Docker;
}

function modemOptions(endpoint: string): Docker.DockerOptions {
  if (endpoint.startsWith('unix://')) return { socketPath: endpoint.slice('unix://'.length) };
  const url = new URL(endpoint.replace(/^tcp:/, 'http:'));
  return { host: url.hostname, port: Number(url.port), protocol: 'http' };
}

function olderOf(a: string, b: string): string {
  const [am = 0, an = 0] = a.split('.').map(Number);
  const [bm = 0, bn = 0] = b.split('.').map(Number);
  return am < bm || (am === bm && an < bn) ? a : b;
}

export async function connectDocker(endpoint: string): Promise<DockerEngine> {
  const options = modemOptions(endpoint);
  let apiVersion: string;
  try {
    // /version answers without a version prefix on every engine.
    const probe = new Docker({ ...options, timeout: 10_000 });
    const v = await probe.version();
    apiVersion = olderOf(v.ApiVersion, NEWEST_KNOWN_API);
  } catch (err) {
    throw new DockerUnavailableError(endpoint, err);
  }
  const api = new Docker({ ...options, version: `v${apiVersion}`, timeout: 30_000 });

  return {
    endpoint,
    apiVersion,
    api,
    async listLabelled(key, value) {
      try {
        const list = await api.listContainers({ all: true, filters: { label: [`${key}=${value}`] } });
        // One inspect per labelled container: the list lacks health, exposed ports and binding addresses.
        const inspected = await Promise.all(
          list.map((c) =>
            api
              .getContainer(c.Id)
              .inspect()
              .catch((err: { statusCode?: number }) => {
                if (err.statusCode === 404) return null; // removed between list and inspect
                throw err;
              }),
          ),
        );
        return inspected.filter((i) => i !== null).map((i) => mapContainer(i as unknown as DockerInspect));
      } catch (err) {
        throw new DockerUnavailableError(endpoint, err);
      }
    },
    async engineLabels() {
      try {
        const info = (await api.info()) as { Labels?: string[] | null };
        const labels: Record<string, string> = {};
        for (const entry of info.Labels ?? []) {
          const eq = entry.indexOf('=');
          if (eq > 0) labels[entry.slice(0, eq)] = entry.slice(eq + 1);
        }
        return labels;
      } catch (err) {
        throw new DockerUnavailableError(endpoint, err);
      }
    },
  };
}
