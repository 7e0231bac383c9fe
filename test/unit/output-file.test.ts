import { appendFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OutputFile } from '../../src/supervisor/output-file.js';

let dir: string;
let file: string;
const open: OutputFile[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vipkeeper-output-'));
  file = join(dir, 'child.log');
});

afterEach(async () => {
  for (const f of open.splice(0)) f.close();
  await rm(dir, { recursive: true, force: true });
});

function follow(fresh: boolean, maxBytes?: number) {
  const lines: string[] = [];
  const f = new OutputFile(file, (l) => lines.push(l), fresh, maxBytes === undefined ? {} : { maxBytes });
  open.push(f);
  return { f, lines };
}

describe('OutputFile', () => {
  it('fresh: drops what an earlier child wrote, then delivers whole lines only', () => {
    writeFileSync(file, 'old\n');
    const { f, lines } = follow(true);
    appendFileSync(file, 'one\ntw');
    f.drain();
    expect(lines).toEqual(['one']);
    appendFileSync(file, 'o\n');
    f.drain();
    expect(lines).toEqual(['one', 'two']);
  });

  it('adopting: starts at the end, and the lines before are history', () => {
    writeFileSync(file, 'a\nb\n\nc\n');
    const { f, lines } = follow(false);
    expect(f.history(2)).toEqual(['b', 'c']);
    appendFileSync(file, 'd\n');
    f.drain();
    expect(lines).toEqual(['d']);
  });

  it('a character split between two writes is decoded whole', () => {
    const { f, lines } = follow(true);
    const bytes = Buffer.from('café\n');
    appendFileSync(file, bytes.subarray(0, 4));
    f.drain();
    appendFileSync(file, bytes.subarray(4));
    f.drain();
    expect(lines).toEqual(['café']);
  });

  it('stays under its cap: read past it, the file is emptied and appends start again at 0', () => {
    const { f, lines } = follow(true, 1000);
    const line = 'x'.repeat(99); // 100 bytes with the newline
    for (let i = 0; i < 15; i++) appendFileSync(file, `${line}\n`);
    f.drain();
    expect(lines).toHaveLength(15);
    expect(statSync(file).size).toBe(0);
    appendFileSync(file, 'after\n');
    f.drain();
    expect(lines.at(-1)).toBe('after');
  });

  it('follows without being asked (inotify or the poll)', async () => {
    const { lines } = follow(true);
    appendFileSync(file, 'hello\n');
    const deadline = Date.now() + 3000;
    while (!lines.includes('hello') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(lines).toEqual(['hello']);
  });
});
