import { describe, expect, it } from 'vitest';
import { AgentUnreachableError } from '../../src/cli/status-client.js';
import { ControlUnreachableError } from '../../src/control/control-client.js';
import { ControlSocketError } from '../../src/control/control-server.js';
import {
  ChildProcessError,
  ConfigError,
  ConfigRejectedError,
  ConfigWriteError,
  DockerUnavailableError,
  errorMessage,
  FatalError,
  ReloadFailedError,
  RunDirLockedError,
  RuntimeApiError,
  TemplateError,
  ToolMissingError,
  VipkeeperError,
} from '../../src/errors.js';

// Logs, status output and exit codes are keyed on each error's code, and
// people read its name and message: codes never change, and each error is
// named after its class.

const boom = new Error('boom');

describe('VipkeeperError and its kinds', () => {
  it.each<[VipkeeperError, string, string, string]>([
    [new ConfigError([{ variable: 'V', shownValue: 'x', rule: 'r' }]), 'ConfigError', 'E_CONFIG', 'invalid environment (1 problem):\n  V=x: r'],
    [new ConfigRejectedError('/f', 'haproxy -c', 1, ' bad\n'), 'ConfigRejectedError', 'E_CONFIG_REJECTED', 'haproxy -c rejected /f (exit 1):\nbad'],
    [new ToolMissingError('haproxy', boom), 'ToolMissingError', 'E_TOOL_MISSING', 'cannot run haproxy: boom'],
    [new TemplateError('t.ejs', 'not an Error'), 'TemplateError', 'E_TEMPLATE', 'template t.ejs: not an Error'],
    [new DockerUnavailableError('unix:///d.sock', boom), 'DockerUnavailableError', 'E_DOCKER', 'Docker engine at unix:///d.sock: boom'],
    [new ReloadFailedError('', []), 'ReloadFailedError', 'E_HAPROXY_RELOAD', 'haproxy did not load the new config: no new worker answered'],
    [new ConfigWriteError('/f', boom), 'ConfigWriteError', 'E_CONFIG_WRITE', 'cannot write /f: boom'],
    [new FatalError('gone', boom), 'FatalError', 'E_FATAL', 'gone'],
    [new ChildProcessError('haproxy', 'haproxy -W', boom), 'ChildProcessError', 'E_CHILD', 'cannot start haproxy (haproxy -W): boom'],
    [new RuntimeApiError('show info', ' '), 'RuntimeApiError', 'E_HAPROXY_API', 'haproxy runtime API: show info: no answer'],
    [new ControlSocketError('/run/c.sock', 'in use'), 'ControlSocketError', 'E_CONTROL_SOCKET', 'control socket /run/c.sock: in use'],
    [new AgentUnreachableError('127.0.0.1:9321', boom), 'AgentUnreachableError', 'E_AGENT_UNREACHABLE', 'no vipkeeper agent answers on 127.0.0.1:9321: boom'],
  ])('%s', (err, name, code, message) => {
    expect(err).toBeInstanceOf(VipkeeperError);
    expect({ name: err.name, code: err.code, message: err.message }).toEqual({ name, code, message });
    expect(err.stack?.split('\n')[0]).toBe(`${name}: ${message.split('\n')[0]}`);
  });

  it('keeps the cause it was given', () => {
    expect(new DockerUnavailableError('unix:///d.sock', boom).cause).toBe(boom);
    expect(new RuntimeApiError('show info', '', { cause: boom, transient: true })).toMatchObject({ cause: boom, transient: true });
    expect('cause' in new RuntimeApiError('show info', 'x')).toBe(false);
  });

  it('a lock held by another agent or by this process says which', () => {
    expect(new RunDirLockedError('/run/v', 12).message).toContain('another vipkeeper agent holds it (pid 12)');
    expect(new RunDirLockedError('/run/v', process.pid).message).toContain(`this process (pid ${process.pid}) already holds it`);
    expect(new RunDirLockedError('/run/v', null)).toMatchObject({ name: 'RunDirLockedError', code: 'E_RUN_DIR_LOCKED' });
  });

  it('the other errors: named after their class too', () => {
    expect(new ControlUnreachableError('/run/c.sock', boom)).toMatchObject({ name: 'ControlUnreachableError', code: 'E_CONTROL_UNREACHABLE' });
  });

  it('errorMessage: an Error by its message, anything else as a string', () => {
    expect(errorMessage(boom)).toBe('boom');
    expect(errorMessage('plain')).toBe('plain');
    expect(errorMessage(42)).toBe('42');
  });
});
