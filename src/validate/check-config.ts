import { execFile } from 'node:child_process';
import { ConfigRejectedError, ToolMissingError } from '../errors.js';

// Every rendered file is checked by the binary that will load it before it
// goes live. Both tools print their verdict; any non-zero exit is a refusal
// (keepalived's 4 means "errors I would have fixed up", still a refusal).

export type ConfigKind = 'haproxy' | 'keepalived';

export interface Validator {
  (kind: ConfigKind, file: string): Promise<void>;
}

export interface ValidatorOptions {
  readonly haproxyBin?: string;
  readonly keepalivedBin?: string;
  readonly timeoutMs?: number;
}

export function realValidator(options: ValidatorOptions = {}): Validator {
  const timeout = options.timeoutMs ?? 20_000;
  return async (kind, file) => {
    const [bin, args] =
      kind === 'haproxy'
        ? [options.haproxyBin ?? 'haproxy', ['-c', '-f', file]]
        : [options.keepalivedBin ?? 'keepalived', ['--config-test', '-f', file]];
    const result = await run(bin, args, timeout);
    if ('spawnError' in result) throw new ToolMissingError(bin, result.spawnError);
    if (result.code !== 0) {
      throw new ConfigRejectedError(file, `${bin} ${args.slice(0, -2).join(' ')}`.trim(), result.code, result.output);
    }
  };
}

type RunResult = { code: number | null; output: string } | { spawnError: Error };

function run(bin: string, args: string[], timeout: number): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(bin, args, { timeout, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`;
      if (err && typeof (err as NodeJS.ErrnoException).code === 'string') {
        resolve({ spawnError: err });
        return;
      }
      const code = err ? ((err as { code?: number | null }).code ?? null) : 0;
      resolve({ code, output });
    });
  });
}
