import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SecretMasker } from '../../src/secrets.js';
import { checkSummaryPath, summaryDocument, writeSummaryFile } from '../../src/summary-file.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function folder(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'summary-file-'));
  dirs.push(dir);
  return dir;
}

const document = summaryDocument({
  outcomes: [],
  exitCode: 0,
  error: undefined,
  startedAtMs: 0,
  nowMs: 1_000,
});

describe('writeSummaryFile', () => {
  it('throws the write’s own error when PATH.tmp is a folder, which it leaves alone', async () => {
    const dir = await folder();
    const path = join(dir, 's.json');
    await mkdir(`${path}.tmp`);
    const failure = writeSummaryFile(path, document, new SecretMasker());
    await expect(failure).rejects.toMatchObject({ code: 'EISDIR', syscall: 'open' });
    await expect(failure).rejects.toThrow(/illegal operation on a directory/);
    expect((await stat(`${path}.tmp`)).isDirectory()).toBe(true);
    expect(await readdir(dir)).toEqual(['s.json.tmp']);
  });

  it('removes PATH.tmp when the rename fails, and throws the rename’s error', async () => {
    const dir = await folder();
    const path = join(dir, 's.json');
    await mkdir(join(path, 'inside'), { recursive: true });
    await expect(writeSummaryFile(path, document, new SecretMasker())).rejects.toMatchObject({
      syscall: 'rename',
    });
    expect(await readdir(dir)).toEqual(['s.json']);
  });
});

describe('checkSummaryPath', () => {
  it('refuses a PATH whose PATH.tmp is a folder, before the run', async () => {
    const dir = await folder();
    const path = join(dir, 's.json');
    await mkdir(`${path}.tmp`);
    await expect(checkSummaryPath(path, join(dir, 'data'))).rejects.toThrow(
      `--summary-file ${JSON.stringify(path)} is written through ${JSON.stringify(`${path}.tmp`)}, which is a folder: remove it or give another path.`,
    );
  });
});
