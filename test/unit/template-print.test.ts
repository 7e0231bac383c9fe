import { describe, expect, it } from 'vitest';
import { TemplateError } from '../../src/errors.js';
import type { TemplateSource } from '../../src/render/load-templates.js';
import { printTemplate } from '../../src/render/render-configs.js';

// A user's template may be wrong in every way a program can be; each way must
// end as a TemplateError that names the file (and the line where ejs knows it),
// costing the pass and never the agent.

const PATH = '/x/haproxy.cfg.ejs';
const source = (text: string, path = PATH): TemplateSource => ({ name: 'haproxy.cfg.ejs', path, text, overridden: true });

function templateError(fn: () => unknown): TemplateError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TemplateError);
    return err as TemplateError;
  }
  throw new Error('expected a TemplateError, but the template printed');
}

describe('printTemplate', () => {
  it('prints the view', () => {
    expect(printTemplate(source('frontend fe_<%= port %>\n<% for (const s of servers) { %>  server <%= s %>\n<% } %>'), { port: 80, servers: ['a', 'b'] })).toBe(
      'frontend fe_80\n  server a\n  server b\n',
    );
  });

  it('a failure while printing is a TemplateError naming the file path and the line', () => {
    const err = templateError(() => printTemplate(source('global\n  daemon\n<%- missing.value %>\n'), {}));
    expect(err.code).toBe('E_TEMPLATE');
    expect(err.template).toBe(PATH);
    expect(err.message).toContain(`${PATH}:3`);
    expect(err.message).toContain('missing is not defined');
  });

  it('reading a property of undefined from the view names the line too', () => {
    const err = templateError(() => printTemplate(source('a\n<%= services[0].name %>\n'), { services: [] }));
    expect(err.code).toBe('E_TEMPLATE');
    expect(err.message).toContain(`${PATH}:2`);
  });

  it.each([
    ['an unclosed parenthesis', 'x\n<% if ( %>\n'],
    ['two words in an output tag', 'x\n<%- a b %>\n'],
    ['an unclosed brace', '<% if (true) { %>\nx\n'],
  ])('a syntax error (%s) is a TemplateError naming the file path', (_what, text) => {
    const err = templateError(() => printTemplate(source(text), {}));
    expect(err.code).toBe('E_TEMPLATE');
    expect(err.template).toBe(PATH);
    expect(err.message).toContain(PATH);
  });

  it('an endless loop is stopped: a TemplateError saying it did not finish within the timeout, and the agent goes on', () => {
    const err = templateError(() => printTemplate(source('before\n<% while (true) {} %>\nafter'), {}, 200));
    expect(err.code).toBe('E_TEMPLATE');
    expect(err.message).toContain(PATH);
    expect(err.message).toContain('did not finish printing within 200 ms');
    // The same path with a good template prints again, and so does another file.
    expect(printTemplate(source('ok <%= n %>'), { n: 1 }, 200)).toBe('ok 1');
    expect(printTemplate(source('also ok', '/x/keepalived.conf.ejs'), {}, 200)).toBe('also ok');
  });

  it('the same looping template fails the same way each time, never hangs', () => {
    for (let i = 0; i < 2; i++) {
      const err = templateError(() => printTemplate(source('<% for (;;) {} %>', '/x/loop.ejs'), {}, 200));
      expect(err.message).toContain('did not finish printing within 200 ms');
    }
  });

  it('a template cannot reach process or require', () => {
    expect(printTemplate(source('<%- typeof process %> <%- typeof require %> <%- typeof globalThis.process %> <%- typeof module %>'), {})).toBe(
      'undefined undefined undefined undefined',
    );
  });

  it('using process is a TemplateError, not a way out', () => {
    const err = templateError(() => printTemplate(source('<%- process.env.HOME %>'), {}));
    expect(err.message).toContain('process is not defined');
  });

  it('a changed text for the same path is compiled again', () => {
    const view = { name: 'apps' };
    expect(printTemplate(source('one <%= name %>'), view)).toBe('one apps');
    expect(printTemplate(source('two <%= name %>'), view)).toBe('two apps');
    expect(printTemplate(source('one <%= name %>'), view)).toBe('one apps');
  });

  it('a broken text replaced by a good one at the same path prints', () => {
    templateError(() => printTemplate(source('<% if ( %>', '/x/fixed.ejs'), {}));
    expect(printTemplate(source('fixed', '/x/fixed.ejs'), {})).toBe('fixed');
  });

  it('escapes <%= output and leaves <%- output raw', () => {
    expect(printTemplate(source('<%= v %>|<%- v %>'), { v: 'a&b' })).toBe('a&amp;b|a&b');
  });

  it('a template that prints nothing prints the empty string', () => {
    expect(printTemplate(source(''), {})).toBe('');
  });

  it('cannot reach the agent through the view (no constructor escape to process)', () => {
    expect(printTemplate(source('<%- locals.constructor.constructor("return typeof process")() %>'), { a: 1 })).toBe('undefined');
  });

  it("runs the template's promise jobs inside its time limit, not later on the agent's queue", () => {
    const view: { touched?: boolean } = {};
    printTemplate(source('<% const l = locals; Promise.resolve().then(() => { l.touched = true }) %>'), view, 200);
    // The template got a copy: the agent's object is untouched, and nothing is left to run.
    expect(view.touched).toBeUndefined();
    expect(() => printTemplate(source('<% Promise.resolve().then(() => { while (true) {} }) %>'), {}, 200)).toThrow(TemplateError);
  });

  it('keeps no state between prints: the same input prints the same text', () => {
    const t = source('<% if (typeof n === "undefined") n = 0; n += 1 %><%- n %>');
    expect(printTemplate(t, {})).toBe('1');
    expect(printTemplate(t, {})).toBe('1');
  });
});
