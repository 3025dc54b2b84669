/**
 * A state file that cannot be read, or that holds another source project's watermarks, stops the
 * run (docs/state-file.md): exit 1, one sentence naming
 * in/state.json and what is wrong, no export job, nothing in out/ (no table, no state), in both modes.
 */
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../src/limits.js';
import { useEmulator } from '../helpers/emulator.js';
import { listFiles, makeDataDir, removeDir } from '../helpers/run-cli.js';
import {
  SOURCE_TOKEN,
  T0_MS,
  expectNoLeaks,
  runJob,
  standaloneConfig,
  standaloneSeed,
} from '../helpers/standalone.js';

const emulator = useEmulator(standaloneSeed());

const tables = [
  { name: 'orders', incremental: true, primaryKey: ['id'], changedSince: 'lastRun' },
  { name: 'events', incremental: true, changedSince: 'lastRun' },
] as const;

const utf8 = (text: string) => Buffer.from(text, 'utf8');
const entry = (watermark: unknown) =>
  utf8(JSON.stringify({ tables: { 'in.c-sales.events': { watermark } } }));

/** What is written to in/state.json, and the sentence the run must print. */
const variants: ReadonlyArray<{
  readonly name: string;
  readonly write: (path: string) => Promise<void>;
  readonly sentence: RegExp;
}> = [
  {
    name: 'torn',
    write: (path) => writeFile(path, utf8('{"tables":{"in.c-sales.events":{"watermark":17409')),
    sentence: /^in\/state\.json is not valid JSON: it ends early \(a torn or truncated file\)\.$/,
  },
  {
    name: 'binary',
    write: (path) => writeFile(path, Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe, 0x9c, 0x00])),
    sentence: /^in\/state\.json is not UTF-8 text \(binary or corrupt content\)\.$/,
  },
  {
    name: 'a directory',
    write: (path) => mkdir(path),
    sentence: /^in\/state\.json cannot be read: it is a directory, not a file\.$/,
  },
  {
    name: 'a UTF-8 BOM',
    write: (path) => writeFile(path, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), utf8('{}')])),
    sentence:
      /^in\/state\.json starts with a UTF-8 byte order mark \(BOM\); save it as UTF-8 without a BOM\.$/,
  },
  {
    name: 'wrong types',
    write: (path) => writeFile(path, entry('1740787200')),
    sentence:
      /^in\/state\.json has an invalid value: tables\["in\.c-sales\.events"\]\.watermark must be a number of unix seconds\.$/,
  },
  {
    name: 'a negative watermark',
    write: (path) => writeFile(path, entry(-5)),
    sentence:
      /^in\/state\.json has an invalid value: .*watermark must not be negative \(unix seconds\)\.$/,
  },
  {
    name: 'a watermark in milliseconds',
    write: (path) => writeFile(path, entry(1_740_787_200_000)),
    sentence:
      /^in\/state\.json has an invalid value: .*watermark is 1740787200000, which looks like milliseconds: watermarks are unix seconds\.$/,
  },
  {
    name: 'written for another source project',
    write: (path) =>
      writeFile(
        path,
        utf8(
          JSON.stringify({
            tables: { 'in.c-sales.events': { watermark: 1_740_787_200 } },
            source: { stack: 'https://connection.keboola.com', projectId: 999 },
          }),
        ),
      ),
    sentence:
      /^in\/state\.json holds the watermarks of project 999 on https:\/\/connection\.keboola\.com, but the source token is of project \d+ on http:\/\/127\.0\.0\.1:\d+: reset the state \(in Keboola: the configuration's Reset state; elsewhere remove in\/state\.json\) to copy the new project's tables from the start, or use a token of project 999 \(if it is the same project under another address, put that address into "source\.stack" of the state instead\)\.$/,
  },
  {
    name: 'a source that is not an object',
    write: (path) => writeFile(path, utf8(JSON.stringify({ tables: {}, source: 'prod' }))),
    sentence:
      /^in\/state\.json has an invalid value: source must be an object \{"stack", "projectId"\}\.$/,
  },
  {
    // Carried through to out/state.json, whose write would overflow the stack after the export.
    name: 'an unknown key nested 5000 levels deep',
    write: (path) =>
      writeFile(path, utf8(`{"tables":{},"x":${'['.repeat(5000)}${']'.repeat(5000)}}`)),
    sentence:
      /^in\/state\.json has an invalid value: x\[0\]\[0\] nests arrays and objects more than 512 levels deep\.$/,
  },
  {
    // Reading a device or a pipe may never end.
    name: 'a link to a device',
    write: (path) => symlink('/dev/zero', path),
    sentence: /^in\/state\.json is not a regular file \(a device or pipe\)\.$/,
  },
  {
    // A volume that was not mounted: not a first run, which would copy every table in full again.
    name: 'a link to a file that does not exist',
    write: (path) => symlink('/mnt/kts-not-mounted/state.json', path),
    sentence:
      /^in\/state\.json cannot be read: it is a symbolic link to a file that does not exist \(a volume not mounted\?\); mount it, or remove the link for a first run\.$/,
  },
  {
    name: 'a link to itself',
    write: (path) => symlink(path, path),
    sentence: /^in\/state\.json cannot be read: it is a symbolic link that loops\.$/,
  },
  {
    name: 'larger than the cap',
    write: (path) => writeFile(path, Buffer.alloc(DEFAULT_LIMITS.maxStateBytes + 1, 0x20)),
    sentence:
      /^in\/state\.json is 16777217 bytes, more than the 16 MiB a state file may have \(KBC_TABLE_SYNC_MAX_STATE_MB\)\.$/,
  },
];

describe.each([
  ['platform', (url: string) => ({ parameters: { '#token': SOURCE_TOKEN, url, tables } })],
  [
    'standalone',
    (url: string) =>
      standaloneConfig(
        url,
        tables.map((t) => ({ ...t, destination: `corrupt_${t.name}` })),
      ),
  ],
] as const)('%s mode: an unusable in/state.json', (_mode, config) => {
  it.each(variants)(
    '$name: exit 1 with one sentence, nothing exported or written',
    async (variant) => {
      const { control, url } = emulator;
      control.setClock(T0_MS);
      const dataDir = await makeDataDir(config(url));
      try {
        await mkdir(join(dataDir, 'in'), { recursive: true });
        await variant.write(join(dataDir, 'in', 'state.json'));
        control.resetStats();
        const result = await runJob(url, dataDir);
        expect(result.code).toBe(1);
        expect(result.stderr.trim()).toMatch(variant.sentence);
        // No export job, no import job: no data moved.
        expect(control.stats().jobStarts).toEqual({});
        // No table, no state, no work folder, no lock left in out/.
        expect(await listFiles(join(dataDir, 'out'))).toEqual([]);
        await expectNoLeaks(control, result, dataDir);
      } finally {
        await removeDir(dataDir);
      }
    },
  );
});

describe('a state of another source project', () => {
  it('is refused by the dry run as by the run: the plan never previews foreign watermarks', async () => {
    const { url } = emulator;
    const dataDir = await makeDataDir({ parameters: { '#token': SOURCE_TOKEN, url, tables } });
    try {
      await mkdir(join(dataDir, 'in'), { recursive: true });
      await writeFile(
        join(dataDir, 'in', 'state.json'),
        JSON.stringify({ tables: {}, source: { stack: url, projectId: 999 } }),
      );
      for (const args of [[], ['--dry-run']]) {
        const result = await runJob(url, dataDir, args);
        expect({ code: result.code, args }).toEqual({ code: 1, args });
        expect(result.stderr).toMatch(/^in\/state\.json holds the watermarks of project 999 on /);
        expect(result.stdout).not.toMatch(/"tables":\[/);
      }
    } finally {
      await removeDir(dataDir);
    }
  });
});
