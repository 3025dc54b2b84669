import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { nextTableState } from '../../../src/state/cursor.js';
import {
  checkStateSource,
  parseState,
  readState,
  StateFileError,
  writeState,
} from '../../../src/state/state-file.js';

const utf8 = (text: string) => new TextEncoder().encode(text);

function errorOf(bytes: Uint8Array): string {
  try {
    parseState(bytes);
  } catch (error) {
    expect(error).toBeInstanceOf(StateFileError);
    return (error as Error).message;
  }
  throw new Error('parseState accepted the input');
}

describe('parseState', () => {
  it('keeps the key order of an entry as a run writes it, so a carried entry is unchanged', () => {
    const entry = nextTableState(
      { watermark: 1_700_000_000 },
      {
        window: { since: 1_700_000_000, nextWatermark: 1_700_000_100 },
        finishedAtIso: '2026-01-01T00:00:00.000Z',
        mode: 'append',
        rows: 3,
        destination: 'in.c-d.t',
      },
    );
    const text = JSON.stringify({ tables: { 'in.c-a.t': entry } });
    expect(JSON.stringify(parseState(utf8(text)))).toBe(text);
  });

  it.each([
    ['{}', { tables: {} }],
    ['[]', { tables: {} }],
    ['{"tables":[]}', { tables: {} }],
    [
      '{"tables":{"in.c-a.t":{"watermark":1700000000,"future":1}},"other":2}',
      { tables: { 'in.c-a.t': { watermark: 1700000000, future: 1 } }, other: 2 },
    ],
  ])('accepts %s', (text, expected) => {
    expect(parseState(utf8(text))).toEqual(expected);
  });

  it.each([
    [
      'torn',
      utf8('{"tables":{"in.c-a.t":{"watermark":17000'),
      /ends early \(a torn or truncated file\)/,
    ],
    ['empty', utf8(''), /is empty/],
    ['blank', utf8('  \n'), /is blank/],
    ['binary', new Uint8Array([0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe, 0x00]), /is not UTF-8 text/],
    ['BOM', utf8('\ufeff{"tables":{}}'), /byte order mark/],
    ['not JSON', utf8('tables: {}'), /is not valid JSON/],
    ['a string', utf8('"x"'), /is not a JSON object \(found a string\)/],
    ['a non-empty array', utf8('[1]'), /is not a JSON object \(found an array\)/],
    ['tables of a wrong type', utf8('{"tables":3}'), /tables must be an object keyed by table id/],
    [
      'an entry that is no object',
      utf8('{"tables":{"in.c-a.t":3}}'),
      /tables\["in.c-a.t"\] must be an object/,
    ],
    [
      'a string watermark',
      utf8('{"tables":{"in.c-a.t":{"watermark":"1"}}}'),
      /tables\["in.c-a.t"\].watermark must be a number of unix seconds/,
    ],
    [
      'a negative watermark',
      utf8('{"tables":{"in.c-a.t":{"watermark":-1}}}'),
      /watermark must not be negative/,
    ],
    [
      'a fractional watermark',
      utf8('{"tables":{"in.c-a.t":{"watermark":1.5}}}'),
      /watermark must be a whole number/,
    ],
    [
      'a watermark in milliseconds',
      utf8('{"tables":{"in.c-a.t":{"watermark":1700000000000}}}'),
      /is 1700000000000, which looks like milliseconds/,
    ],
    ['negative rows', utf8('{"tables":{"in.c-a.t":{"rows":-3}}}'), /rows must not be negative/],
  ])('rejects %s with one sentence naming in/state.json', (_name, bytes, pattern) => {
    const message = errorOf(bytes);
    expect(message).toMatch(/^in\/state\.json /);
    expect(message).toMatch(pattern);
    expect(message.split('\n')).toHaveLength(1);
  });
});

describe('parseState: nesting', () => {
  const nested = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;
  const parse = (text: string) => parseState(Buffer.from(text, 'utf8'));

  it('carries an unknown value nested up to 512 levels through, the file being the first', () => {
    const state = parse(`{"tables":{},"x":${nested(511)}}`);
    expect(JSON.parse(JSON.stringify(state))).toEqual(
      JSON.parse(`{"tables":{},"x":${nested(511)}}`),
    );
  });

  it('refuses a value nested deeper when the file is read, naming where it is', () => {
    expect(() => parse(`{"tables":{},"x":${nested(512)}}`)).toThrow(
      'in/state.json has an invalid value: x[0][0] nests arrays and objects more than 512 levels deep.',
    );
    expect(() =>
      parse(`{"tables":{"in.c-sales.orders":{"watermark":1,"note":${nested(100_000)}}}}`),
    ).toThrow(
      'in/state.json has an invalid value: tables["in.c-sales.orders"].note nests arrays and objects more than 512 levels deep.',
    );
  });
});

describe('readState', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('writeState removes a leftover temp name that is a folder, and says so', async () => {
    dir = await mkdtemp(join(tmpdir(), 'kts-state-'));
    await mkdir(join(dir, 'out', 'state.json.tmp-4242', 'x'), { recursive: true });
    await expect(writeState(dir, { tables: {} })).resolves.toEqual(['state.json.tmp-4242']);
    expect(await readdir(join(dir, 'out'))).toEqual(['state.json']);
  });

  it('treats a missing file as an empty state', async () => {
    dir = await mkdtemp(join(tmpdir(), 'kts-state-'));
    await expect(readState(dir)).resolves.toEqual({ tables: {} });
  });

  it('names a directory in place of the file', async () => {
    dir = await mkdtemp(join(tmpdir(), 'kts-state-'));
    await mkdir(join(dir, 'in', 'state.json'), { recursive: true });
    await expect(readState(dir)).rejects.toThrow(
      'in/state.json cannot be read: it is a directory, not a file.',
    );
  });

  it('reads a valid file', async () => {
    dir = await mkdtemp(join(tmpdir(), 'kts-state-'));
    await mkdir(join(dir, 'in'));
    await writeFile(join(dir, 'in', 'state.json'), '{"tables":{"in.c-a.t":{"watermark":5}}}');
    await expect(readState(dir)).resolves.toEqual({ tables: { 'in.c-a.t': { watermark: 5 } } });
  });
});

describe('checkStateSource', () => {
  const current = { stack: 'https://connection.keboola.com', projectId: 101 };
  it('takes a state of the same project, also with the URL spelled with a slash or capitals', () => {
    for (const stack of ['https://connection.keboola.com', 'https://Connection.keboola.com/']) {
      expect(() =>
        checkStateSource({ tables: {}, source: { stack, projectId: 101 } }, current),
      ).not.toThrow();
    }
  });
  it('takes a state without a source (written by an older version)', () => {
    expect(() => checkStateSource({ tables: {} }, current)).not.toThrow();
  });
  it('refuses a state of another project or another stack', () => {
    for (const source of [
      { stack: 'https://connection.keboola.com', projectId: 202 },
      { stack: 'https://connection.eu-central-1.keboola.com', projectId: 101 },
    ]) {
      expect(() => checkStateSource({ tables: {}, source }, current)).toThrow(StateFileError);
    }
  });
});
