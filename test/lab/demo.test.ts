import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO } from './support/cli.js';
import { sh } from './support/lab.js';

// The README's first command, end to end: `bash scripts/demo.sh` brings up two
// load-balancer hosts, answers through the VIP and drills a failover. The demo
// is removed afterwards (`down`), also when a check fails.

const demo = (action: 'up' | 'down') => sh('bash', [join(REPO, 'scripts/demo.sh'), action], { allowFail: true });

describe('the demo (bash scripts/demo.sh)', () => {
  afterAll(async () => {
    const r = await demo('down');
    expect(r.code, r.stderr).toBe(0);
    expect((await sh('ip', ['netns', 'list'])).stdout).not.toMatch(/vkdemo/);
    expect((await sh('docker', ['ps', '-aq', '--filter', 'label=vipkeeper-demo'])).stdout.trim()).toBe('');
  }, 120_000);

  it('answers through the VIP, and its graceful drill moves the VIP to the other host', async () => {
    const r = await demo('up');
    process.stdout.write(r.stdout);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const out = r.stdout;
    expect(out).toMatch(/== Requests through the VIP[^\n]*\n {2}hello from [0-9a-f]{12}\n/);
    expect(out).toContain('drill graceful on vkdemo1');
    // The backup (vkdemo2, 198.18.7.12) took over, and nopreempt kept it there.
    expect(out).toMatch(/new master {2,}198\.18\.7\.12 \(priority 100\)/);
    expect(out).toMatch(/preemption {2,}VIP stayed \(expected to stay\): as configured/);
    expect(out).toContain('After the drill: the VIP is on vkdemo2');
    expect(out).toContain('bash scripts/demo.sh down');
  }, 600_000);
});
