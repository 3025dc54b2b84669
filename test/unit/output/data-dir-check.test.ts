import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkDataFolder } from '../../../src/output/data-dir-check.js';

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
