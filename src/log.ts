import { destination, pino, stdTimeFunctions, type Logger } from 'pino';

export type { Logger };

/**
 * JSON lines on stderr, so stdout stays free for command output. The pino
 * redact list is a second fence: secrets are Secret objects that print a mask
 * anyway, but a stray raw password under these keys is masked too.
 */
export function createLogger(level: string): Logger {
  return pino(
    {
      name: 'vipkeeper',
      level,
      base: undefined,
      redact: { paths: ['authPass', '*.authPass', 'password', '*.password'], censor: '********' },
      timestamp: stdTimeFunctions.isoTime,
    },
    destination({ fd: 2, sync: true }),
  );
}
