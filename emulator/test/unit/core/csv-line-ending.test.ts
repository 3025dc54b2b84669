import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lineEndingOf, sharedLineEnding } from '../../../src/csv-format.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'line-ending-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, name.endsWith('.gz') ? gzipSync(text) : text);
  return path;
}

describe('lineEndingOf', () => {
  it.each([
    ['lf.csv', '"1","a\r\nb"\n"2","x"\n', '\n'],
    ['crlf.csv', '"1","x"\r\n"2","y"\r\n', '\r\n'],
    ['cr.csv.gz', '"1","a\nb"\r"2","y"\r', '\r'],
    ['quoted-cr-first.csv.gz', '"1","old mac\rline"\n"2","c"\n', '\n'],
    ['one-record.csv', '"1","x"', undefined],
    ['empty.csv', '', undefined],
  ])('%s ends its records with %j', async (name, text, expected) => {
    expect(await lineEndingOf(await file(name, text))).toBe(expected);
  });

  it('is shared only when every file that has one agrees', async () => {
    const lf = await file('a.csv', '1,x\n2,y\n');
    const single = await file('b.csv', '1,x');
    const crlf = await file('c.csv', '1,x\r\n');
    expect(await sharedLineEnding([lf, single])).toBe('\n');
    expect(await sharedLineEnding([lf, crlf])).toBeUndefined();
    expect(await sharedLineEnding([])).toBeUndefined();
  });
});
