import { inspect } from 'node:util';

const MASK = '********';

/**
 * A value that must never reach a log, a status page or an error message.
 * Every way of turning it into text prints a mask; only `reveal()` (called by
 * the keepalived view model and nothing else) gives the real value.
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  get length(): number {
    return this.#value.length;
  }
  toString(): string {
    return MASK;
  }
  toJSON(): string {
    return MASK;
  }
  [inspect.custom](): string {
    return `Secret(${MASK})`;
  }
}

export function maskSecret(value: string): string {
  return `${MASK} (secret, ${value.length} characters)`;
}
