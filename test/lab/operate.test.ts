import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runtimeCommand } from '../../src/haproxy/runtime-api.js';
import type { CheckAnswer, ShowAnswer, VerifyAnswer } from '../../src/operate/operate-types.js';
import { AgentUnderTest } from './support/agent.js';
import { type CliResult, REPO, runCli } from './support/cli.js';
import { APP_IMAGE, docker, publishedPort, removeTestContainers, runApp, TEST_LABEL, waitFor } from './support/lab.js';

// `vipkeeper show`, `check` and `verify` as an operator runs them: the built CLI
// against a real agent, its haproxy and dockerd, over the agent's control socket.

const apps = { role: 'apps' };

/** What each command printed, kept under .lab/ for a look (the README's samples come from there). */
const SAMPLES = join(REPO, '.lab', 'operate-samples.txt');
function sample(command: string, r: CliResult): void {
  appendFileSync(SAMPLES, `$ vipkeeper ${command}    # exit ${r.code}\n${r.stdout}${r.stderr}\n`);
}

describe('the read-only operator commands', () => {
  let agent: AgentUnderTest;
  const cli = (...args: string[]): Promise<CliResult> => runCli([...args, '--control', agent.controlSocket], {});
  const json = async <T>(...args: string[]): Promise<{ code: number | null; answer: T; stderr: string }> => {
    const r = await cli(...args, '--json');
    return { code: r.code, answer: JSON.parse(r.stdout) as T, stderr: r.stderr };
  };
  const admin = (command: string) => runtimeCommand(agent.adminSocket, command);

  beforeAll(async () => {
    mkdirSync(join(REPO, '.lab'), { recursive: true });
    writeFileSync(SAMPLES, '');
    await removeTestContainers();
    agent = new AgentUnderTest();
    agent.start();
    await agent.waitLog('the initial pass', (l) => l.msg === 'pass');
    await runApp({ name: 'vkt-op1', labels: apps, publish: ['80'] });
    await runApp({ name: 'vkt-op2', labels: apps, publish: ['80'] });
    await agent.waitServers(['vkt-op1', 'vkt-op2']);
  });
  afterAll(async () => {
    await agent?.stop();
    await removeTestContainers();
  });

  it("show: every server with its container, address, weight, HAProxy's health and admin state; a table, JSON or YAML", async () => {
    const { code, answer } = await json<ShowAnswer>('show');
    expect(code).toBe(0);
    const apps = answer.services.find((s) => s.name === 'apps')!;
    expect(apps).toMatchObject({ backend: 'be_apps', frontend: { port: 18080 } });
    const port = await publishedPort('vkt-op1', 80);
    const id = (await docker('inspect', '-f', '{{.Id}}', 'vkt-op1')).slice(0, 12);
    expect(apps.servers.find((s) => s.name === 'vkt-op1')).toEqual({
      name: 'vkt-op1',
      container: { id, name: 'vkt-op1', engine: 'local' },
      address: `127.0.0.1:${port}`,
      weight: 100,
      health: 'up',
      checked: true,
      admin: 'ready',
      adminSource: null,
      adminReason: null,
      role: 'active',
    });

    const table = await cli('show', 'apps');
    sample('show apps', table);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^apps: http on :18080, balance roundrobin, backend be_apps$/m);
    expect(table.stdout).toMatch(new RegExp(`^ {2}vkt-op1 +vkt-op1 \\(${id}\\) +local +127\\.0\\.0\\.1:${port} +100 +up +ready +- +active$`, 'm'));
    const yaml = await cli('show', '--yaml');
    expect(yaml.stdout).toMatch(/^services:\n {2}- name: apps\n/);

    const unknown = await cli('show', 'appz');
    expect(unknown).toMatchObject({ code: 1, stdout: '' });
    expect(unknown.stderr).toBe('vipkeeper: no service named "appz"; did you mean apps? (services: apps)\n');
  });

  it('check: 0 for balanced containers (by name or id prefix); 1 naming why for stopped, unlabelled, rejected, down and unknown ones', async () => {
    const id = await docker('inspect', '-f', '{{.Id}}', 'vkt-op1');
    const ok = await cli('check', 'vkt-op1', id.slice(0, 7));
    expect(ok).toMatchObject({ code: 0, stderr: '' });
    sample(`check vkt-op1 ${id.slice(0, 7)}`, ok);
    expect(ok.stdout).toMatch(/^vkt-op1 +vkt-op1 \(\w{12}\) +local +ok +be_apps\/vkt-op1 +balanced and up in be_apps as vkt-op1/m);

    await docker('run', '-d', '--name', 'vkt-op-bare', '-l', `${TEST_LABEL}=1`, '-p', '80', APP_IMAGE);
    await runApp({ name: 'vkt-op-evil', labels: { ...apps, 'vipkeeper.weight': 'lots' }, publish: ['80'] });
    // A container that never listens, reached on its own address (docker-proxy would accept the
    // TCP check for it on a published port): HAProxy's health check marks it down.
    await docker('run', '-d', '--name', 'vkt-op-deaf', '-l', `${TEST_LABEL}=1`, '-l', 'role=apps', '-l', 'vipkeeper.network=bridge', APP_IMAGE, 'sh', '-c', 'exec sleep 600');
    await docker('stop', '-t', '1', 'vkt-op2');
    await agent.waitServers(['vkt-op1']);

    let answer: CheckAnswer | null = null;
    await waitFor('HAProxy to mark vkt-op-deaf down', async () => {
      const r = await json<CheckAnswer>('check', 'vkt-op-deaf');
      answer = r.answer;
      return r.answer.results[0]!.verdict === 'down';
    }, 30_000, 250);
    expect(answer!.results[0]!.reason).toBe('HAProxy says down: its health check fails');

    const all = ['vkt-op1', 'vkt-op2', 'vkt-op-bare', 'vkt-op-evil', 'vkt-op-deaf', 'vkt-nope'];
    sample(`check ${all.join(' ')}`, await cli('check', ...all));
    sample('show apps', await cli('show', 'apps'));
    const r = await json<CheckAnswer>('check', ...all);
    expect(r.code).toBe(1);
    expect(r.answer.results.map((x) => [x.query, x.verdict])).toEqual([
      ['vkt-op1', 'balanced'],
      ['vkt-op2', 'not-running'],
      ['vkt-op-bare', 'no-role'],
      ['vkt-op-evil', 'rejected'],
      ['vkt-op-deaf', 'down'],
      ['vkt-nope', 'unknown'],
    ]);
    expect(r.answer.results[1]!.reason).toBe('not running (Docker says exited)');
    expect(r.answer.results[2]!.reason).toBe('it has no role label: only containers labelled role=apps are served');
    expect(r.answer.results[3]!.reason).toMatch(/^a label is rejected: label vipkeeper\.weight="lots" breaks the rule/);
    expect(r.answer.results[5]!.reason).toBe('no container is named "vkt-nope" or has an id starting with it');
    // The one-line reason on stderr names each container that is not balanced.
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^vipkeeper check: 5 of 6 not balanced and up: vkt-op2: not running/);

    // An admin state set by hand over the Runtime API: disabled, and not by vipkeeper.
    expect(await admin('disable server be_apps/vkt-op1')).toBe('\n');
    const off = await json<CheckAnswer>('check', 'vkt-op1');
    expect(off.code).toBe(1);
    expect(off.answer.results[0]).toMatchObject({ verdict: 'disabled', admin: 'maint', reason: expect.stringMatching(/^in maintenance outside vipkeeper: /) });
    await admin('enable server be_apps/vkt-op1');
    await waitFor('vkt-op1 balanced again', async () => (await cli('check', 'vkt-op1')).code === 0, 10_000, 100);

    expect((await runCli(['check'], {})).code).toBe(2); // bad usage: no container named
    expect((await cli('check', 'vkt-op1', '--json', '--yaml')).code).toBe(2);
    await docker('rm', '-f', 'vkt-op2', 'vkt-op-bare', 'vkt-op-deaf');
  });

  it('verify: 0 when HAProxy and the engines agree; 1 listing a server added by hand and a labelled container not served', async () => {
    // vkt-op-evil (a rejected label) still runs: labelled, running, not served.
    sample('verify', await cli('verify'));
    const first = await json<VerifyAnswer>('verify');
    expect(first.code).toBe(1);
    expect(first.answer.unserved).toEqual([
      expect.objectContaining({ container: expect.objectContaining({ name: 'vkt-op-evil' }), reason: expect.stringMatching(/^not served: a label is rejected: label vipkeeper\.weight/) }),
    ]);
    await docker('rm', '-f', 'vkt-op-evil');
    await waitFor('verify to agree', async () => (await cli('verify')).code === 0, 20_000, 200);
    const agree = await cli('verify');
    sample('verify', agree);
    expect(agree.stdout).toMatch(/^compared 1 HAProxy server with 1 labelled running container on 1 engine \(local answered\)\nthey agree/);

    // A server added by hand over the Runtime API: nothing backs it.
    expect(await admin('add server be_apps/x 127.0.0.1:9')).toMatch(/New server registered/);
    sample('verify', await cli('verify'));
    sample('show apps --yaml', await cli('show', 'apps', '--yaml'));
    const hand = await json<VerifyAnswer>('verify');
    expect(hand.code).toBe(1);
    expect(hand.answer.unbacked).toEqual([
      { backend: 'be_apps', server: 'x', address: '127.0.0.1:9', admin: 'maint', container: null, reason: 'no container behind it: vipkeeper did not put it there (added by hand over the Runtime API?)' },
    ]);
    expect(hand.stderr).toBe('vipkeeper verify: HAProxy and the engines disagree: 1 server with no running container (be_apps/x)\n');
    const shown = await json<ShowAnswer>('show', 'apps');
    expect(shown.answer.services[0]!.servers.find((s) => s.name === 'x')).toMatchObject({ container: null, admin: 'maint', adminSource: 'other' });
    await admin('del server be_apps/x');

    // The agent's server deleted by hand: its running container is not served any more.
    await admin('disable server be_apps/vkt-op1');
    expect(await admin('del server be_apps/vkt-op1')).toMatch(/Server deleted/);
    sample('verify', await cli('verify'));
    const lost = await json<VerifyAnswer>('verify');
    expect(lost.code).toBe(1);
    expect(lost.answer.unserved).toEqual([expect.objectContaining({ container: expect.objectContaining({ name: 'vkt-op1' }), service: 'apps', reason: 'HAProxy has no server be_apps/vkt-op1 for it' })]);
    expect(lost.answer.unbacked).toEqual([]);
  });
});
