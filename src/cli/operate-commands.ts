import { readControl } from '../control/control-client.js';
import { checkSummary, checkTable, formatAnswer, type OutputFormat, showTable, verifySummary, verifyTable } from '../operate/format.js';
import type { CheckAnswer, ShowAnswer, VerifyAnswer } from '../operate/operate-types.js';

// `vipkeeper show`, `check` and `verify`: ask the running agent over its
// control socket, print its answer. Each says whether the answer is yes (ok)
// or no; main.ts turns that into the exit status.

export type Outcome = 'ok' | 'no';

export interface ReadOptions {
  /** The agent's control socket. */
  readonly control: string;
  readonly format: OutputFormat;
}

type Print = (s: string) => void;

export async function showCommand(o: ReadOptions & { readonly service: string | null }, print: Print): Promise<Outcome> {
  const path = o.service === null ? '/show' : `/show?service=${encodeURIComponent(o.service)}`;
  print(formatAnswer(await readControl<ShowAnswer>(o.control, path), o.format, showTable));
  return 'ok';
}

export async function checkCommand(o: ReadOptions & { readonly containers: readonly string[] }, print: Print, warn: Print): Promise<Outcome> {
  const query = o.containers.map((c) => `c=${encodeURIComponent(c)}`).join('&');
  const answer = await readControl<CheckAnswer>(o.control, `/check?${query}`);
  print(formatAnswer(answer, o.format, checkTable));
  if (answer.ok) return 'ok';
  warn(checkSummary(answer));
  return 'no';
}

export async function verifyCommand(o: ReadOptions, print: Print, warn: Print): Promise<Outcome> {
  const answer = await readControl<VerifyAnswer>(o.control, '/verify');
  print(formatAnswer(answer, o.format, verifyTable));
  if (answer.ok) return 'ok';
  warn(verifySummary(answer));
  return 'no';
}
