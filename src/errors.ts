// One error class per kind of failure. Each carries a stable `code` that logs,
// status output and the CLI's exit status are keyed on; messages may change,
// codes may not.

export abstract class VipkeeperError extends Error {
  abstract readonly code: string;
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
    this.name = 'ConfigError';
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
    this.name = 'ConfigRejectedError';
  }
}

/** A validating binary could not be run at all (missing, not executable). */
export class ToolMissingError extends VipkeeperError {
  readonly code = 'E_TOOL_MISSING';
  constructor(readonly tool: string, cause: unknown) {
    super(`cannot run ${tool}: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'ToolMissingError';
  }
}

/** A template could not be loaded or failed while printing. */
export class TemplateError extends VipkeeperError {
  readonly code = 'E_TEMPLATE';
  constructor(readonly template: string, cause: unknown) {
    super(`template ${template}: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'TemplateError';
  }
}

/** The Docker engine did not answer or answered with an error. */
export class DockerUnavailableError extends VipkeeperError {
  readonly code = 'E_DOCKER';
  constructor(readonly endpoint: string, cause: unknown) {
    super(`Docker engine at ${endpoint}: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'DockerUnavailableError';
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
    this.name = 'RuntimeApiError';
    this.transient = options.transient ?? false;
  }
}
