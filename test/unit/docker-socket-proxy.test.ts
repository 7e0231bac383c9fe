import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { lstatSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { connectDocker, type DockerEngine } from '../../src/docker/docker-engine.js';
import { type ContainerEvent, DockerEvents } from '../../src/docker/docker-events.js';
import { FAKE_CONTAINER_ID, FakeEngineServer } from './support/fake-engine-server.js';

// compose/docker-socket-proxy/haproxy.cfg, run by the real haproxy in front of a fake
// Docker engine (a node HTTP server on a unix socket that answers what vipkeeper asks
// and records every request that reaches it). No dockerd: what matters is what the
// proxy lets through, and that is the same whatever answers behind it.

const CFG = fileURLToPath(new URL('../../compose/docker-socket-proxy/haproxy.cfg', import.meta.url));
const ID = FAKE_CONTAINER_ID;
const log = pino({ level: 'silent' });

const dir = mkdtempSync(join(tmpdir(), 'vipkeeper-proxy-'));
const engineSocket = join(dir, 'engine.sock');
const proxySocket = join(dir, 'proxy.sock');
const env = { ...process.env, DOCKER_PROXY_SOCKET: proxySocket, DOCKER_ENGINE_SOCKET: engineSocket };

// A request a real engine would act on is answered 200, so that a leak through the proxy is obvious.
const fakeEngine = new FakeEngineServer({ unknown: 'echo' });
const { reached, streams } = fakeEngine;

let haproxy: ChildProcess | null = null;
let haproxyLog = '';

function viaProxy(method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: proxySocket, method, path, headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += String(c)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Bytes as written, on one connection, for what the HTTP client would not send; returns all that came back. */
function rawExchange(text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(proxySocket);
    let got = '';
    socket.on('data', (c: Buffer) => (got += String(c)));
    socket.on('end', () => {
      clearTimeout(halfClose);
      resolve(got);
    });
    socket.on('error', reject);
    // No FIN with the requests: HAProxy may drop pipelined requests it has not answered yet when
    // the client has closed its side (seen: [200] for three pipelined requests, ~3 runs in 80).
    // The last request says `connection: close`, or HAProxy closes after a deny; else close after 3 s.
    socket.write(text);
    const halfClose = setTimeout(() => socket.end(), 3000);
  });
}

const statusLines = (text: string) => [...text.matchAll(/^HTTP\/1\.[01] (\d{3})/gm)].map((m) => Number(m[1]));

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await Promise.resolve(check()).catch(() => false))) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('the Docker socket proxy (compose/docker-socket-proxy/haproxy.cfg)', () => {
  beforeAll(async () => {
    const version = spawnSync('haproxy', ['-v'], { encoding: 'utf8' });
    if (version.error) throw new Error(`this test runs the real haproxy, and none is on the PATH: ${version.error.message}`);
    await fakeEngine.listen(engineSocket);
    haproxy = spawn('haproxy', ['-db', '-f', CFG], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    haproxy.stdout!.on('data', (c: Buffer) => (haproxyLog += String(c)));
    haproxy.stderr!.on('data', (c: Buffer) => (haproxyLog += String(c)));
    await waitFor('the proxy to answer /_ping', async () => (await viaProxy('GET', '/_ping')).status === 200);
  });

  afterAll(async () => {
    if (haproxy && haproxy.exitCode === null) {
      const exited = new Promise((r) => haproxy!.once('exit', r));
      haproxy.kill('SIGTERM');
      await exited;
    }
    await fakeEngine.close();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    reached.length = 0;
  });

  it('is a valid haproxy config, and its socket is mode 0600', () => {
    const check = spawnSync('haproxy', ['-c', '-f', CFG], { env, encoding: 'utf8' });
    expect(check.status, check.stderr + check.stdout).toBe(0);
    const st = lstatSync(proxySocket);
    expect(st.isSocket()).toBe(true);
    expect((st.mode & 0o777).toString(8)).toBe('600');
  });

  it.each([
    ['GET', '/_ping'],
    ['HEAD', '/_ping'],
    ['GET', '/version'],
    ['GET', '/v1.45/_ping'],
    ['GET', '/v1.45/version'],
    ['GET', '/v1.45/info'],
    ['GET', '/v1.41/containers/json?all=true&filters=%7B%22label%22%3A%5B%22role%3Dapps%22%5D%7D'],
    ['GET', `/v1.45/containers/${ID}/json`],
    ['GET', '/v1.45/containers/web-1/json'],
    ['GET', '/v1.45/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D'],
    ['GET', '/v1.45/services?filters=%7B%22label%22%3A%5B%22role%3Dapps%22%5D%7D'],
    ['GET', '/v1.45/tasks?filters=%7B%22service%22%3A%5B%22svc1%22%5D%7D'],
    ['GET', '/v1.45/nodes'],
    ['GET', '/v1.45/nodes/node1'],
  ])('passes %s %s', async (method, path) => {
    if (path.includes('/events')) {
      // A stream: the headers are the answer; the body never ends.
      await new Promise<void>((resolve, reject) => {
        const req = request({ socketPath: proxySocket, method, path, agent: false }, (res) => {
          expect(res.statusCode).toBe(200);
          res.destroy();
          resolve();
        });
        req.on('error', reject);
        req.end();
      });
      // HAProxy notices the client is gone only when it next forwards something: end the engine's side too.
      await waitFor('the stream at the engine', () => streams.size === 1);
      for (const res of streams) res.destroy();
      await waitFor('the stream closed', () => streams.size === 0);
    } else {
      expect((await viaProxy(method, path)).status).toBe(200);
    }
    expect(reached).toEqual([`${method} ${path}`]);
  });

  it.each([
    ['POST', '/containers/create'],
    ['POST', '/v1.45/containers/create?name=evil'],
    ['DELETE', `/v1.45/containers/${ID}?force=true`],
    ['POST', `/v1.45/containers/${ID}/exec`],
    ['POST', '/v1.45/exec/abc/start'],
    ['POST', `/v1.45/containers/${ID}/stop`],
    ['POST', `/v1.45/containers/${ID}/json`],
    ['PUT', `/v1.45/containers/${ID}/archive?path=/`],
    ['POST', '/_ping'],
    ['POST', '/v1.45/services/create'],
    ['POST', '/v1.45/nodes/node1/update?version=1'],
    ['DELETE', '/v1.45/nodes/node1'],
    ['GET', '/secrets'],
    ['GET', '/v1.45/secrets'],
    ['GET', '/v1.45/configs'],
    ['GET', '/v1.45/images/json'],
    ['GET', `/v1.45/containers/${ID}/logs?stdout=1`],
    ['GET', `/v1.45/containers/${ID}/archive?path=/etc/shadow`],
    ['GET', `/v1.45/containers/${ID}/export`],
    ['GET', `/v1.45/containers/${ID}/attach/ws`],
    ['GET', '/containers/json/../../secrets'],
    ['GET', '/v1.45/containers/json/../../secrets'],
    ['GET', '/v1.45/containers/../secrets/json'],
    ['GET', '/v1.45/containers/%2e%2e/json'],
    ['GET', '/v1.45/containers/json%2f..%2f..%2fsecrets'],
    ['GET', '/v1.45//secrets'],
    ['GET', '//containers/json'],
    ['GET', '/v1.45/containers/json/'],
    ['GET', '/v1.45/nodes/node1/../../secrets'],
    ['GET', '/v1.45/info/../secrets'],
    ['GET', '/vx/containers/json'],
  ])('refuses %s %s with 403, and the engine never hears of it', async (method, path) => {
    expect((await viaProxy(method, path)).status).toBe(403);
    expect(reached).toEqual([]);
  });

  it('refuses a connection upgrade, even on a path it passes', async () => {
    expect((await viaProxy('GET', '/v1.45/containers/json', { connection: 'Upgrade', upgrade: 'tcp' })).status).toBe(403);
    expect((await viaProxy('POST', `/v1.45/containers/${ID}/attach?stream=1`, { connection: 'Upgrade', upgrade: 'tcp' })).status).toBe(403);
    expect(reached).toEqual([]);
  });

  it.each([
    ['a lower-case method', 'get /v1.45/containers/json HTTP/1.1\r\nhost: docker\r\nconnection: close\r\n\r\n'],
    ['an absolute URI', 'GET http://docker/v1.45/secrets HTTP/1.1\r\nhost: docker\r\nconnection: close\r\n\r\n'],
    ['HTTP/1.0', 'POST /containers/create HTTP/1.0\r\ncontent-length: 2\r\n\r\n{}'],
  ])('refuses %s', async (_what, text) => {
    const answer = await rawExchange(text);
    expect(statusLines(answer), answer).toEqual([403]);
    expect(reached).toEqual([]);
  });

  it('checks every request on a kept-alive connection, and a body hides none', async () => {
    const smuggled = 'POST /v1.45/containers/create HTTP/1.1\r\nhost: docker\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}';
    const answer = await rawExchange(
      'GET /v1.45/_ping HTTP/1.1\r\nhost: docker\r\n\r\n' +
        `GET /v1.45/info HTTP/1.1\r\nhost: docker\r\ntransfer-encoding: chunked\r\n\r\n${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n` +
        smuggled.replace('host: docker', 'host: docker\r\nconnection: close'),
    );
    expect(statusLines(answer)).toEqual([200, 200, 403]);
    expect(reached).toEqual(['GET /v1.45/_ping', 'GET /v1.45/info']);
  });

  describe("with vipkeeper's own Docker client", () => {
    let engine: DockerEngine;
    beforeAll(async () => {
      engine = await connectDocker(`unix://${proxySocket}`);
    });

    it('reads everything the agent reads, containers and Swarm', async () => {
      expect(engine.apiVersion).toBe('1.45');
      await engine.ping();
      const containers = await engine.listLabelled('role', 'apps');
      expect(containers.map((c) => [c.name, c.bindings[0]?.hostPort])).toEqual([['web-1', 32768]]);
      expect(await engine.engineLabels()).toEqual({ role: 'load-balancer' });
      expect(await engine.swarmNodeId()).toBe('node1');
      const swarm = await engine.listSwarm('role', 'apps');
      expect([swarm.services.length, swarm.tasks.length, swarm.nodes.length]).toEqual([1, 0, 1]);
      expect(((await engine.api.getNode('node1').inspect()) as { ID: string }).ID).toBe('node1');
      expect(reached.every((r) => r.startsWith('GET '))).toBe(true);
      expect(reached).toContain(`GET /v1.45/containers/${ID}/json`);
    });

    it('cannot create, exec, stop or remove anything', async () => {
      const refused = async (p: Promise<unknown>) => expect(((await p.catch((e: unknown) => e)) as { statusCode?: number }).statusCode).toBe(403);
      await refused(engine.api.createContainer({ Image: 'alpine', HostConfig: { Privileged: true, Binds: ['/:/host'] } }));
      await refused(engine.api.getContainer(ID).exec({ Cmd: ['sh'] }));
      await refused(engine.api.getContainer(ID).stop());
      await refused(engine.api.getContainer(ID).remove({ force: true }));
      await refused(engine.api.createService({ Name: 'evil', TaskTemplate: { ContainerSpec: { Image: 'alpine' } } }));
      await refused(engine.api.listSecrets());
      expect(reached).toEqual([]);
    });

    it('streams events through, also one sent after a quiet while', { timeout: 15_000 }, async () => {
      const events = new DockerEvents(engine, log);
      const seen: ContainerEvent[] = [];
      events.on('event', (e: ContainerEvent) => seen.push(e));
      try {
        await events.start();
        await waitFor('the event stream to reach the engine', () => streams.size === 1);
        expect(reached.some((r) => r.startsWith('GET /v1.45/events?'))).toBe(true);
        fakeEngine.push({ Type: 'container', Action: 'start', Actor: { ID, Attributes: { name: 'web-1' } }, time: 1_767_225_600 });
        await waitFor('the first event', () => seen.length === 1);
        await new Promise((r) => setTimeout(r, 1500));
        fakeEngine.push({ Type: 'container', Action: 'kill', Actor: { ID, Attributes: { name: 'web-1', signal: '15' } }, timeNano: 1_767_225_601_500_000_000 });
        await waitFor('the second event', () => seen.length === 2);
        expect(seen).toEqual([
          { type: 'container', action: 'start', id: ID, name: 'web-1', signal: null, time: 1_767_225_600_000 },
          { type: 'container', action: 'kill', id: ID, name: 'web-1', signal: '15', time: 1_767_225_601_500 },
        ]);
        expect(streams.size).toBe(1); // the same stream, never reopened
      } finally {
        events.close();
      }
    });
  });

  it('logs what it refused, not the requests it passed', async () => {
    await viaProxy('POST', '/v1.45/containers/create?name=logged');
    await waitFor('the refusal in the log', () => haproxyLog.includes('POST /v1.45/containers/create?name=logged'));
    expect(haproxyLog).toMatch(/ 403 .*"POST \/v1\.45\/containers\/create\?name=logged HTTP\/1\.1"/);
    expect(haproxyLog).not.toContain('GET /_ping');
    expect(haproxyLog).not.toContain(`GET /v1.45/containers/${ID}/json`);
  });
});
