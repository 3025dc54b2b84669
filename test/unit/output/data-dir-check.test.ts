import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeFsError, EnvironmentError } from '../../../src/fs-errors.js';
import { checkDataFolder, checkManifestPaths } from '../../../src/output/data-dir-check.js';

describe('checkDataFolder', () => {
  it('two runs that create out/ and out/tables at once both go on (the loser of the mkdir finds a folder)', async () => {
    for (let round = 0; round < 5; round++) {
      const dataDir = await mkdtemp(join(tmpdir(), 'kts-dir-race-'));
      try {
        const options = { tables: true, workDirName: '.kbc-table-sync-tmp' };
        const layouts = await Promise.all([
          checkDataFolder(dataDir, options),
          checkDataFolder(dataDir, options),
        ]);
        expect(layouts[0]).toEqual(layouts[1]);
      } finally {
        await rm(dataDir, { recursive: true, force: true });
      }
    }
  });
});

describe('a folder where a manifest goes', () => {
  it('is refused naming the path, before any table is written', async () => {
    const tablesDir = await mkdtemp(join(tmpdir(), 'kts-manifest-folder-'));
    try {
      await mkdir(join(tablesDir, 'customers.csv.manifest'));
      const check = checkManifestPaths(tablesDir, ['orders.csv', 'customers.csv']);
      await expect(check).rejects.toThrow(EnvironmentError);
      await expect(check).rejects.toThrow(
        `${tablesDir}/customers.csv.manifest is a folder: the job writes the manifest of the table customers.csv to that file; remove or rename the folder.`,
      );
      await expect(checkManifestPaths(tablesDir, ['orders.csv'])).resolves.toBeUndefined();
    } finally {
      await rm(tablesDir, { recursive: true, force: true });
    }
  });

  it('takes a symbolic link to a folder for the link it is, and a missing out/tables for none', async () => {
    const tablesDir = await mkdtemp(join(tmpdir(), 'kts-manifest-link-'));
    try {
      await mkdir(join(tablesDir, 'elsewhere'));
      await symlink(join(tablesDir, 'elsewhere'), join(tablesDir, 'orders.csv.manifest'));
      await expect(checkManifestPaths(tablesDir, ['orders.csv'])).resolves.toBeUndefined();
      const missing = join(tablesDir, 'missing');
      await expect(checkManifestPaths(missing, ['orders.csv'])).resolves.toBeUndefined();
    } finally {
      await rm(tablesDir, { recursive: true, force: true });
    }
  });

  it('fs.rm meeting a folder (ERR_FS_EISDIR) is the same environment fault as EISDIR', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kts-eisdir-'));
    try {
      const error: unknown = await rm(dir, { force: true }).catch((e: unknown) => e);
      const described = describeFsError(error, `The manifest ${dir} cannot be replaced`);
      expect(described).toBeInstanceOf(EnvironmentError);
      expect(described?.message).toBe(
        `The manifest ${dir} cannot be replaced: it is a folder where a file is expected (ERR_FS_EISDIR).`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
