import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RuntimeApiError, VipkeeperError } from '../../src/errors.js';
import { directRuntimeApi, splitPromptAnswers, type Connect } from '../../src/haproxy/runtime-api.js';
import { RuntimeClient } from '../../src/haproxy/runtime-client.js';
import { FakeAdminSocket, until } from './fake-admin-socket.js';

const STATE_ANSWER =
  '1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n' +
  '3 be_apps 1 web-1 127.0.0.1 2 0 100 100 5 6 3 4 6 0 0 0 - 32001 - 0 0 - - 0\n';

/** A connection that fails the way a socket does, with this errno code. */
const failing = (code: string): Socket => {
  const s = new Socket();
  process.nextTick(() => s.destroy(Object.assign(new Error(`connect ${code} /fake`), { code })));
  return s;
};

let fake: FakeAdminSocket;
const clients: RuntimeClient[] = [];
const client = (opts: ConstructorParameters<typeof RuntimeClient>[1] = {}, path = fake.path) => {
  const c = new RuntimeClient(path, opts);
  clients.push(c);
  return c;
};

beforeEach(async () => {
  fake = await new FakeAdminSocket((cmd) => (cmd === 'show servers state' ? STATE_ANSWER : cmd.startsWith('add server') ? 'New server registered.\n' : '')).start();
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await fake.stop();
});

describe('RuntimeClient: one bounded queue', () => {
  it('never opens more connections than its pool, and the rest wait', async () => {
    const c = client({ concurrency: 3 });
    fake.hold();
    const all = Array.from({ length: 20 }, (_, i) => c.command(`set server be_apps/s${i} state drain`));
    await until('three held answers', () => fake.heldCount === 3);
    expect(fake.open).toBe(3);
    expect(c.stats()).toMatchObject({ active: 3, waiting: 17 });
    fake.release();
    await Promise.all(all);
    expect(fake.peakOpen).toBe(3);
    expect(fake.received).toHaveLength(20);
    expect(c.stats()).toMatchObject({ active: 0, waiting: 0, peakActive: 3, peakWaiting: 17, exchanges: 20, retries: 0 });
  });

  it('runs waiting requests in the order they were asked for (FIFO)', async () => {
    const c = client({ concurrency: 1 });
    fake.hold();
    const order = Array.from({ length: 8 }, (_, i) => `set server be_apps/s${i} state drain`);
    const all = order.map((cmd) => c.command(cmd));
    // A batch takes one place in the same queue.
    const batch = c.batch(['set server be_apps/b1 state ready', 'set server be_apps/b2 state ready']);
    await until('the first command held', () => fake.heldCount === 1);
    fake.release();
    await Promise.all([...all, batch]);
    expect(fake.received).toEqual([...order, 'set server be_apps/b1 state ready', 'set server be_apps/b2 state ready']);
    expect(fake.peakOpen).toBe(1);
  });

  it('refuses a request beyond the queue cap with RuntimeApiError, and serves the others', async () => {
    const c = client({ concurrency: 1, maxQueued: 2 });
    fake.hold();
    const kept = [c.command('show info'), c.command('show info'), c.command('show info')];
    const refused = c.command('set server be_apps/x state drain');
    await expect(refused).rejects.toBeInstanceOf(RuntimeApiError);
    await expect(refused).rejects.toThrow(/queue full/);
    fake.release();
    await Promise.all(kept);
    expect(c.stats().refused).toBe(1);
  });

  it('close() refuses the waiting requests and any new one; the running one finishes', async () => {
    const c = client({ concurrency: 1 });
    fake.hold();
    const running = c.command('show info');
    const waiting = c.command('show info');
    await until('the first command held', () => fake.heldCount === 1);
    c.close();
    await expect(waiting).rejects.toThrow(/closed/);
    await expect(c.command('show info')).rejects.toThrow(/closed/);
    fake.release();
    await expect(running).resolves.toBe('\n');
  });
});

describe('RuntimeClient: transient socket errors', () => {
  it.each(['EAGAIN', 'ECONNRESET', 'EPIPE', 'ECONNREFUSED'])('%s is retried with a backoff, holding the place in the queue', async (code) => {
    let tries = 0;
    const connect: Connect = (p) => (++tries <= 2 ? failing(code) : createConnection(p));
    const c = client({ connect, retryDelayMs: 1 });
    await expect(c.command('set server be_apps/web-1 state drain')).resolves.toBe('\n');
    expect(tries).toBe(3);
    expect(c.stats()).toMatchObject({ retries: 2, exchanges: 3, peakActive: 1 });
  });

  it('a real ECONNREFUSED (socket file left by a killed listener) is retried until HAProxy listens again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vk-refused-'));
    const dead = join(dir, 'dead.sock');
    try {
      // A listener killed with SIGKILL leaves its socket file: connect() is refused, like a worker gone.
      const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(dead)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((r) => child.stdout.once('data', () => r()));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      expect(existsSync(dead)).toBe(true);
      let tries = 0;
      const seen: string[] = [];
      // First try the dead socket, then the live one: the listener "came back".
      const connect: Connect = () => {
        const s = createConnection(++tries === 1 ? dead : fake.path);
        s.once('error', (e: NodeJS.ErrnoException) => seen.push(e.code ?? '?'));
        return s;
      };
      const c = client({ connect, retryDelayMs: 1 });
      await expect(c.command('show info')).resolves.toBe('\n');
      expect(seen).toEqual(['ECONNREFUSED']);
      expect(tries).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives up after `attempts` tries with the last error as cause', async () => {
    const c = client({ connect: () => failing('EAGAIN'), attempts: 3, retryDelayMs: 1 });
    const err = await c.command('show info').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RuntimeApiError);
    expect(err).toBeInstanceOf(VipkeeperError);
    expect(err).toMatchObject({ code: 'E_HAPROXY_API', command: 'show info', transient: true });
    expect(((err as Error).cause as NodeJS.ErrnoException).code).toBe('EAGAIN');
    expect(c.stats()).toMatchObject({ exchanges: 3, retries: 2 });
  });

  it('does not retry a missing socket (ENOENT) or a timeout', async () => {
    const missing = client({ retryDelayMs: 1 }, join(fake.dir, 'nope.sock'));
    await expect(missing.command('show info')).rejects.toMatchObject({ transient: false, code: 'E_HAPROXY_API' });
    expect(missing.stats().exchanges).toBe(1);

    fake.hold();
    const slow = client({ timeoutMs: 50, retryDelayMs: 1 });
    await expect(slow.command('show info')).rejects.toThrow(/timed out after 50 ms/);
    expect(slow.stats().exchanges).toBe(1);
  });
});

describe('RuntimeClient: show servers state is shared', () => {
  it('concurrent readers with maxAgeMs > 0 share one request, then reuse its answer until it is older than maxAgeMs', async () => {
    let now = 1_000_000;
    const c = client({ now: () => now });
    fake.hold();
    const flood = Array.from({ length: 200 }, () => c.serversState(1000));
    await until('the request held', () => fake.heldCount === 1);
    fake.release();
    const answers = await Promise.all(flood);
    expect(answers[0]).toEqual([{ backend: 'be_apps', server: 'web-1', address: '127.0.0.1', port: 32001, opState: 2, adminState: 0, weight: 100 }]);
    expect(new Set(answers).size).toBe(1);
    expect(fake.received.filter((x) => x === 'show servers state')).toHaveLength(1);

    now += 1000;
    await c.serversState(1000);
    expect(fake.received.filter((x) => x === 'show servers state')).toHaveLength(1);
    now += 1;
    await c.serversState(1000);
    expect(fake.received.filter((x) => x === 'show servers state')).toHaveLength(2);
  });

  it('maxAgeMs 0 always asks HAProxy, and refreshes what cached readers get', async () => {
    let now = 0;
    const c = client({ now: () => now });
    await c.serversState(5000);
    await c.serversState();
    await c.serversState(0);
    expect(fake.received.filter((x) => x === 'show servers state')).toHaveLength(3);
    now += 4000;
    await c.serversState(5000);
    expect(fake.received.filter((x) => x === 'show servers state')).toHaveLength(3);
  });

  it('a failed request is shared by those waiting on it, but not kept', async () => {
    let fail = true;
    const c = client({ connect: (p) => (fail ? failing('ENOENT') : createConnection(p)) });
    const both = [c.serversState(1000), c.serversState(1000)];
    for (const p of both) await expect(p).rejects.toBeInstanceOf(RuntimeApiError);
    expect(c.stats().exchanges).toBe(1);
    fail = false;
    await expect(c.serversState(1000)).resolves.toHaveLength(1);
  });
});

describe('batch', () => {
  it('sends all commands on one connection in interactive mode and splits the answers', async () => {
    const c = client();
    const answers = await c.batch(['add server be_apps/a 127.0.0.1:1', 'set server be_apps/a state ready', 'show servers state']);
    expect(answers).toEqual(['New server registered.', '', STATE_ANSWER.replace(/\n$/, '')]);
    expect(fake.connections).toBe(1);
    expect(await c.batch([])).toEqual([]);
    expect(fake.connections).toBe(1);
  });

  it('the direct API batches the same way', async () => {
    expect(await directRuntimeApi(fake.path).batch(['set server be_apps/a state ready', 'add server be_apps/b 127.0.0.1:2'])).toEqual(['', 'New server registered.']);
  });

  it.each([
    ['a line feed', 'set server a/b state ready\nshow info'],
    ['a ";"', 'set server a/b state ready;show info'],
    ['prompt', 'prompt'],
    ['quit', 'quit'],
  ])('refuses a command with %s before connecting', async (_what, cmd) => {
    const c = client();
    await expect(c.batch(['show info', cmd])).rejects.toBeInstanceOf(RuntimeApiError);
    expect(fake.connections).toBe(0);
  });

  it('HAProxy closing before every answer is an error (transient: a worker went away)', async () => {
    fake.answer = (cmd) => {
      if (cmd === 'boom') throw new Error('fake worker gone');
      return '';
    };
    const c = client({ attempts: 2, retryDelayMs: 1 });
    const err = await c.batch(['show info', 'boom', 'show info']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RuntimeApiError);
    expect(err).toMatchObject({ transient: true });
    expect((err as Error).message).toMatch(/closed after 1 of 3 answers/);
    expect(c.stats().exchanges).toBe(2);
  });

  it('splitPromptAnswers: answers with and without a trailing blank line, empty ones, and a short output', () => {
    // As HAProxy 2.6 prints them: `del server` ends with one line feed, the others with two.
    const out = '\n> New server registered.\n\n> \n> Server deleted.\n> No such server.\n\n> ';
    expect(splitPromptAnswers(out, 4)).toEqual(['New server registered.', '', 'Server deleted.', 'No such server.']);
    expect(splitPromptAnswers(out, 3)).toBeNull();
    expect(splitPromptAnswers('\n> New server registered.\n', 1)).toBeNull();
    expect(splitPromptAnswers('', 1)).toBeNull();
  });
});

afterAll(() => {
  for (const c of clients) c.close();
});
