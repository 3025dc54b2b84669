import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../../src/errors.js';
import {
  jsonErrorPosition,
  loadRawConfig,
  parseConfigText,
  resolveDataDir,
} from '../../../src/config/load-raw-config.js';

const SECRET = '2134-88291-mCkuU3xgVqLzAbcdef';

function errnoError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: fake`), { code });
}

describe('resolveDataDir', () => {
  const none = (): boolean => false;
  const dataExists = (path: string): boolean => path === '/data/';

  it.each([
    [
      '--data wins',
      { cliData: '/tmp/x/', env: { KBC_DATADIR: '/other/' }, exists: dataExists },
      '/tmp/x',
    ],
    ['KBC_DATADIR next', { env: { KBC_DATADIR: '/data/' }, exists: none }, '/data'],
    ['/data when it exists', { env: {}, exists: dataExists }, '/data'],
    ['./data otherwise', { env: {}, exists: none }, './data'],
    [
      'empty values are ignored',
      { cliData: '', env: { KBC_DATADIR: ' ' }, exists: none },
      './data',
    ],
    ['several trailing slashes', { cliData: 'data//', env: {}, exists: none }, 'data'],
    ['the root stays /', { cliData: '/', env: {}, exists: none }, '/'],
  ])('%s', (_name, inputs, expected) => {
    expect(resolveDataDir(inputs)).toBe(expected);
  });

  it('refuses a path with a line break, naming where it came from and not the path', () => {
    const forged = '/nonexistent\nError: forged line';
    expect(() => resolveDataDir({ cliData: forged, env: {}, exists: none })).toThrow(
      /^The data folder given by --data holds a line break or another control character: give the folder's path without it\.$/,
    );
    expect(() => resolveDataDir({ env: { KBC_DATADIR: '/d\r/x' }, exists: none })).toThrow(
      /^The data folder given by KBC_DATADIR holds a line break/,
    );
  });
});

describe('loadRawConfig', () => {
  it('reads <dataDir>/config.json', async () => {
    const files: Record<string, string> = { '/d/config.json': '\uFEFF{"parameters": {"a": 1}}' };
    const read = (file: string): Promise<string> => Promise.resolve(files[file] ?? '');
    await expect(loadRawConfig('/d', read)).resolves.toEqual({ parameters: { a: 1 } });
  });

  it('says how to provide a missing config.json, and whether the folder itself is missing', async () => {
    const read = (): Promise<string> => Promise.reject(errnoError('ENOENT'));
    const how =
      'mount the data folder (docker run -v "$PWD/data:/data") or pass --data DIR, or set KBC_DATADIR';
    const messageFor = async (dataDir: string) => {
      const error = await loadRawConfig(dataDir, read).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(UserError);
      return (error as Error).message;
    };
    const folder = await mkdtemp(join(tmpdir(), 'kts-config-'));
    try {
      expect(await messageFor(folder)).toBe(`No config.json in ${folder}: ${how}`);
      const missing = join(folder, 'nope');
      expect(await messageFor(missing)).toBe(`The data folder ${missing} does not exist: ${how}`);
      const file = join(folder, 'a-file');
      await writeFile(file, '');
      expect(await messageFor(file)).toBe(`The data folder ${file} is not a folder: ${how}`);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it.each(['EACCES', 'EISDIR', 'ELOOP'])(
    'turns %s into a user error naming the file',
    async (code) => {
      const read = (): Promise<string> => Promise.reject(errnoError(code));
      await expect(loadRawConfig('/d', read)).rejects.toThrow(
        new UserError(`Cannot read /d/config.json (${code}): make it a readable file`),
      );
    },
  );

  it('lets other read errors through', async () => {
    const read = (): Promise<string> => Promise.reject(errnoError('EIO'));
    await expect(loadRawConfig('/d', read)).rejects.toThrow('EIO: fake');
  });
});

describe('parseConfigText', () => {
  it.each([
    ['a missing comma', `{\n  "#token": "${SECRET}"\n  "url": "x"\n}`, 'line 3, column 3'],
    ['a bare word', `{"#token": ${SECRET}}`, 'line 1, column 16'],
    [
      'a bare word starting with a letter',
      `{"#token": mC${SECRET}}`,
      "Unexpected token 'm' at line 1, column 12",
    ],
    ['a trailing comma', `{"#token": "${SECRET}",}`, 'line 1, column 44'],
    ['an unterminated string', `{"#token": "${SECRET}`, 'line 1, column 12'],
    ['an empty file', '', 'line 1, column 1'],
    ['text after the value', '{} x', 'line 1, column 4'],
  ])('names the file and the position of %s, never the content', (_name, text, position) => {
    let message = '';
    try {
      parseConfigText(text, '/data/config.json');
    } catch (error) {
      expect(error).toBeInstanceOf(UserError);
      message = (error as Error).message;
    }
    expect(message).toMatch(/^\/data\/config\.json is not valid JSON \(/);
    expect(message).toContain(position);
    expect(message).not.toContain(SECRET);
    expect(message).not.toContain('2134');
  });
});

describe('jsonErrorPosition', () => {
  it.each([
    '{}',
    '[]',
    ' {"a": [1, -2.5e3, true, false, null, "x\\n\\u00e9"], "b": {}} ',
    '"s"',
    '0',
    '[[[[[]]]]]',
  ])('finds no error in valid JSON %s', (text) => {
    expect(() => {
      JSON.parse(text);
    }).not.toThrow();
    expect(jsonErrorPosition(text)).toBeUndefined();
  });

  it.each([
    ['{"a" 1}', 5],
    ['[1,]', 3],
    ['[1 2]', 3],
    ['{,}', 1],
    ['{"a":1,}', 7],
    ['01', 1],
    ['"a\tb"', 0],
    ['[', 1],
    ['{"a":tru}', 5],
    [']', 0],
    ['{"a":1]', 6],
  ])('finds the error in %j at offset %i', (text, offset) => {
    expect(() => {
      JSON.parse(text);
    }).toThrow();
    expect(jsonErrorPosition(text)).toBe(offset);
  });

  it('handles deep nesting without recursion', () => {
    expect(jsonErrorPosition('['.repeat(100_000) + ']'.repeat(100_000))).toBeUndefined();
  });
});
