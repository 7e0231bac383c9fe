// One error class per kind of failure. Each carries a stable `code` that logs,
// status output and the CLI's exit status are keyed on; messages may change,
// codes may not.

export abstract class VipkeeperError extends Error {
  abstract readonly code: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    // The subclass's own name (ConfigError, ...), as stack traces and logs show it.
    this.name = new.target.name;
  }
}

/** What was thrown, as one message: an Error's message, anything else as a string. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** One invalid environment variable; `shownValue` is already masked for secrets. */
export interface EnvProblem {
  readonly variable: string;
  readonly shownValue: string;
  readonly rule: string;
}

/** The environment is invalid. Lists every problem, not only the first. */
export class ConfigError extends VipkeeperError {
  readonly code = 'E_CONFIG';
  constructor(readonly problems: readonly EnvProblem[]) {
    super(
      `invalid environment (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((p) => `  ${p.variable}=${p.shownValue}: ${p.rule}`).join('\n'),
    );
  }
}

/** A rendered file was refused by the real binary that will load it. */
export class ConfigRejectedError extends VipkeeperError {
  readonly code = 'E_CONFIG_REJECTED';
  constructor(
    readonly file: string,
    readonly tool: string,
    readonly exitCode: number | null,
    readonly output: string,
  ) {
    super(`${tool} rejected ${file} (exit ${exitCode ?? 'signal'}):\n${output.trim()}`);
  }
}

/** A validating binary could not be run at all (missing, not executable). */
export class ToolMissingError extends VipkeeperError {
  readonly code = 'E_TOOL_MISSING';
  constructor(readonly tool: string, cause: unknown) {
    super(`cannot run ${tool}: ${errorMessage(cause)}`, { cause });
  }
}

/** A template could not be loaded or failed while printing. */
export class TemplateError extends VipkeeperError {
  readonly code = 'E_TEMPLATE';
  constructor(readonly template: string, cause: unknown) {
    super(`template ${template}: ${errorMessage(cause)}`, { cause });
  }
}

/** The Docker engine did not answer or answered with an error. */
export class DockerUnavailableError extends VipkeeperError {
  readonly code = 'E_DOCKER';
  constructor(readonly endpoint: string, cause: unknown) {
    super(`Docker engine at ${endpoint}: ${errorMessage(cause)}`, { cause });
  }
}

/** HAProxy did not take a new config on reload (a port in use, say); the previous one still serves. */
export class ReloadFailedError extends VipkeeperError {
  readonly code = 'E_HAPROXY_RELOAD';
  constructor(
    readonly output: string,
    /** Frontend ports HAProxy said it could not bind. */
    readonly unboundPorts: readonly number[],
    cause?: unknown,
  ) {
    super(`haproxy did not load the new config: ${output.trim().split('\n').slice(-5).join(' | ') || 'no new worker answered'}`, { cause });
  }
}

/** A pass could not write the config directory (full disk, read-only mount): nothing changed. */
export class ConfigWriteError extends VipkeeperError {
  readonly code = 'E_CONFIG_WRITE';
  constructor(readonly file: string, cause: unknown) {
    super(`cannot write ${file}: ${errorMessage(cause)}`, { cause });
  }
}

/** A fault the agent cannot go on from (an unhandled rejection, say): it stops its children and exits. */
export class FatalError extends VipkeeperError {
  readonly code = 'E_FATAL';
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
  }
}

/** A supervised child (haproxy, keepalived) could not be started: missing binary, no permission, no output file. */
export class ChildProcessError extends VipkeeperError {
  readonly code = 'E_CHILD';
  constructor(
    readonly child: string,
    readonly command: string,
    cause: unknown,
  ) {
    super(`cannot start ${child} (${command}): ${errorMessage(cause)}`, { cause });
  }
}

/** Another live agent holds the run directory (its notify FIFO, admin sockets and pid files). */
export class RunDirLockedError extends VipkeeperError {
  readonly code = 'E_RUN_DIR_LOCKED';
  constructor(
    readonly runDir: string,
    /** The holder's pid, as its lock file names it; null when it kept changing under us. */
    readonly pid: number | null,
  ) {
    const holder =
      pid === process.pid ? `this process (pid ${pid}) already holds it` : `another vipkeeper agent holds it (pid ${pid ?? 'unknown'})`;
    super(`run directory ${runDir} is locked: ${holder}, see ${runDir}/vipkeeper.lock; two agents must not share one VIPKEEPER_RUN_DIR`);
  }
}

/**
 * HAProxy's Runtime API (admin socket) failed: the socket could not be used, or
 * the answer did not say the command worked. `answer` is HAProxy's answer, or
 * what went wrong on the socket; `cause` is the socket error when there is one.
 */
export class RuntimeApiError extends VipkeeperError {
  readonly code = 'E_HAPROXY_API';
  /** A socket error worth another try (see TRANSIENT_SOCKET_ERRORS in haproxy/runtime-api.ts). */
  readonly transient: boolean;
  constructor(
    readonly command: string,
    readonly answer: string,
    options: { cause?: unknown; transient?: boolean } = {},
  ) {
    super(`haproxy runtime API: ${command}: ${answer.trim() || 'no answer'}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.transient = options.transient ?? false;
  }
}

/** An ACME order failed: the ACME server is unreachable or refused, or a challenge could not be answered. Never carries key material. */
export class AcmeError extends VipkeeperError {
  readonly code = 'E_ACME';
  constructor(readonly host: string, reason: string, options?: { cause?: unknown }) {
    super(`ACME order for ${host}: ${reason}`, options);
  }
}
