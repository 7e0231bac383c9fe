import { describe, expect, it } from 'vitest';
import { classify, parseHttpLog, withErrorLog } from '../../bench/haproxy-log.js';

// The churn bench's split of failed requests (defect 13): "cut mid-response by a
// SIGKILLed backend" must hold only what HAProxy itself says was that, so that
// "everything else" cannot hide a failure a proxy could have prevented.

// Lines as HAProxy 2.6 prints them with `format raw` and `option httplog`.
const SC = '127.0.0.1:33090 [01/Dec/2026:03:37:11.707] f b/s 0/0/-1/-1/3004 503 217 - - SC-- 1/1/0/0/3 0/0 "GET /x HTTP/1.1"';
const sd = (server: string) => `127.0.0.1:40000 [01/Dec/2026:03:37:11.707] fe_18080 be_apps/${server} 0/0/0/1/2 200 120 - - SD-- 4/4/3/1/0 0/0 "GET / HTTP/1.1"`;
const retried = '127.0.0.1:40001 [01/Dec/2026:03:37:11.707] fe_18080 be_apps/vkb-0-9 0/0/0/1/1003 200 160 - - ---- 4/4/3/1/+2 0/0 "GET / HTTP/1.1"';
const clientGone = '127.0.0.1:40002 [01/Dec/2026:03:37:11.707] fe_18080 be_apps/vkb-0-9 0/0/0/-1/5 -1 0 - - CD-- 4/4/3/1/0 0/0 "GET / HTTP/1.1"';

describe('parseHttpLog', () => {
  it('reads server, status, termination state and retries from an httplog line', () => {
    expect(parseHttpLog(SC)).toEqual({ frontend: 'f', backend: 'b', server: 's', tr: -1, status: 503, termination: 'SC--', retries: 3, redispatched: false });
    expect(parseHttpLog(retried)).toMatchObject({ server: 'vkb-0-9', status: 200, termination: '----', retries: 2, redispatched: true });
  });

  it('ignores lines that are not traffic logs (server state changes, alerts)', () => {
    expect(parseHttpLog('Server be_apps/vkb-0-3 is going DOWN for maintenance. 2 active and 0 backup servers left.')).toBeNull();
  });
});

describe('classify', () => {
  const kill = { server: 'vkb-0-5', from: 1000, to: 1100 };

  it('counts an SD on a server this run SIGKILLed, during the kill, as cut mid-response', () => {
    const c = classify([{ at: 1050, text: sd('vkb-0-5') }], [kill]);
    expect(c.killedMidResponse).toHaveLength(1);
    expect(c.other).toHaveLength(0);
  });

  it('counts an SD on a server nobody killed, or long after its kill, as "everything else"', () => {
    const c = classify([{ at: 1050, text: sd('vkb-0-6') }, { at: 5000, text: sd('vkb-0-5') }], [kill]);
    expect(c.killedMidResponse).toHaveLength(0);
    expect(c.other).toHaveLength(2);
  });

  it('never files a 503 or an SH under the kill: a proxy could have retried those', () => {
    const sh = sd('vkb-0-5').replace('SD--', 'SH--').replace(' 200 ', ' 502 ');
    const c = classify([{ at: 1050, text: SC }, { at: 1050, text: sh }], [kill]);
    expect(c.killedMidResponse).toHaveLength(0);
    expect(c.other).toHaveLength(2);
  });

  it('counts retried requests answered in full as saved, and a client that left as nothing', () => {
    const c = classify([{ at: 1050, text: retried }, { at: 1050, text: clientGone }], [kill]);
    expect(c).toEqual({ killedMidResponse: [], other: [], saved: [{ at: 1050, text: retried }] });
  });
});

describe('withErrorLog', () => {
  it('adds an info-level UDP target and dontlog-normal, and leaves the stdout target as it is', () => {
    const t = 'global\n    log stdout format raw daemon notice\n\ndefaults\n    option httplog\n';
    expect(withErrorLog(t, 5514)).toBe(
      'global\n    log 127.0.0.1:5514 format raw daemon info\n    log stdout format raw daemon notice\n\ndefaults\n    option dontlog-normal\n    option httplog\n',
    );
  });

  it('refuses a template without a defaults section', () => {
    expect(() => withErrorLog('global\n', 1)).toThrow(/defaults/);
  });
});
