import { Writable } from 'node:stream';
import { destination, pino, stdTimeFunctions, type Logger } from 'pino';
import { lineSplitter } from './util/lines.js';

export type { Logger };
export type LogFormat = 'json' | 'pretty';

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** One JSON log line -> `time LEVEL message key=value ...` for a person at a terminal. */
export function prettyLine(json: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const { time, level, msg, name: _name, ...rest } = entry;
  const fields = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
    .join(' ');
  const clock = typeof time === 'string' ? time.slice(11, 23) : '';
  return `${clock} ${(LEVEL_NAMES[level as number] ?? String(level)).padEnd(5)} ${String(msg ?? '')}${fields ? `  ${fields}` : ''}`;
}

function prettyStream(): Writable {
  const feed = lineSplitter((line) => process.stderr.write(`${prettyLine(line)}\n`));
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      feed(chunk);
      done();
    },
  });
}

/**
 * JSON lines on stderr (or a readable form with `pretty`), so stdout stays
 * free for command output. The redact list is a second fence: secrets are
 * Secret objects that print a mask anyway, but a stray raw password under
 * these keys is masked too.
 */
export function createLogger(level: string, format: LogFormat = 'json'): Logger {
  return pino(
    {
      name: 'vipkeeper',
      level,
      base: undefined,
      redact: { paths: ['authPass', '*.authPass', 'password', '*.password'], censor: '********' },
      timestamp: stdTimeFunctions.isoTime,
    },
    format === 'pretty' ? prettyStream() : destination({ fd: 2, sync: true }),
  );
}
