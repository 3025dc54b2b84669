/**
 * The atomic write of config.json (src/tokens/config-file.ts): the rename is flushed to disk by
 * syncing the folder after it, and a platform that cannot sync a folder does not fail the write.
 * The write gets node:fs/promises wrapped to record the calls that matter, in order.
 */
import * as fs from 'node:fs/promises';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConfigTooDeepError,
  prepareConfigWrite,
  renderConfig,
} from '../../../src/tokens/config-file.js';

/**
 * node:fs/promises recording `open` (of a file or a folder), each handle's `sync` and `rename`;
 * a folder's sync fails with `folderSyncCode` when given.
 */
function recordingFs(folderSyncCode?: string) {
  const calls: string[] = [];
  const wrapped = {
    ...fs,
    open: async (...args: Parameters<typeof fs.open>) => {
      const [path, flags, mode] = args;
      const handle = await fs.open(path, flags, mode);
      const what = (await handle.stat()).isDirectory() ? 'folder' : 'file';
      calls.push(`open ${what}`);
      const sync = handle.sync.bind(handle);
      handle.sync = async () => {
        calls.push(`sync ${what}`);
        if (what === 'folder' && folderSyncCode !== undefined) {
          throw Object.assign(new Error(`${folderSyncCode}: sync`), { code: folderSyncCode });
        }
        await sync();
      };
      return handle;
    },
    rename: async (...args: Parameters<typeof fs.rename>) => {
      calls.push('rename');
      await fs.rename(...args);
    },
  };
  return { calls, fs: wrapped };
}

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kts-config-file-'));
  dirs.push(dir);
  await writeFile(join(dir, 'config.json'), '{"parameters":{"#token":"old"}}\n');
  return dir;
}

async function writeConfig(
  dir: string,
  document: unknown,
  recording: ReturnType<typeof recordingFs>,
): Promise<void> {
  const write = await prepareConfigWrite(dir, recording.fs);
  try {
    await write.commit(`${JSON.stringify(document, null, 2)}\n`);
  } finally {
    await write.discard();
  }
}

describe('writing config.json', () => {
  it('syncs the folder after the rename, so the new entry survives a crash', async () => {
    const dir = await dataDir();
    const recording = recordingFs();
    await writeConfig(dir, { parameters: { '#token': 'new' } }, recording);
    expect(recording.calls).toEqual([
      'open file',
      'sync file',
      'rename',
      'open folder',
      'sync folder',
    ]);
    expect(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'))).toEqual({
      parameters: { '#token': 'new' },
    });
  });

  it.each(['EINVAL', 'EISDIR', 'ENOTSUP'])(
    'succeeds where the platform cannot sync a folder (%s)',
    async (code) => {
      const dir = await dataDir();
      const recording = recordingFs(code);
      await writeConfig(dir, { parameters: { '#token': 'new' } }, recording);
      expect(recording.calls.at(-1)).toBe('sync folder');
      expect(await readdir(dir)).toEqual(['config.json']);
      expect(await readFile(join(dir, 'config.json'), 'utf8')).toContain('"new"');
    },
  );

  it('fails when the folder sync fails otherwise (EIO): the rename may not last', async () => {
    const dir = await dataDir();
    await expect(
      writeConfig(dir, { parameters: { '#token': 'new' } }, recordingFs('EIO')),
    ).rejects.toMatchObject({ code: 'EIO' });
  });
});

describe('rendering config.json before the token exists', () => {
  it('serialises as the write always did, with the token put where the document placed it', () => {
    const document = (token: string) => ({
      parameters: { '#token': token, tables: [{ name: 'orders' }] },
      other: 'kept',
    });
    const token = '101-9001-$&$1abc';
    expect(renderConfig(document).withToken(token)).toBe(
      `${JSON.stringify(document(token), null, 2)}\n`,
    );
  });

  it('refuses a document nested deeper than JSON.stringify can go, before any token exists', () => {
    const text = `{"parameters":{},"deep":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    const deep = JSON.parse(text) as Record<string, unknown>;
    expect(() => renderConfig((token) => ({ ...deep, token }))).toThrow(ConfigTooDeepError);
  });
});
