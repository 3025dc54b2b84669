import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;

/**
 * The repository's own ESLint config on a file under src/: importing the emulator package, its
 * sources or its engine is an error. Type-checked rules are switched off so that a file that is
 * not on disk can be linted; the boundary rules need no types.
 */
async function boundaryMessages(code: string, filePath = 'src/boundary-probe.ts') {
  const eslint = new ESLint({ cwd: root, overrideConfig: [tseslint.configs.disableTypeChecked] });
  const [result] = await eslint.lintText(`${code}\n`, { filePath });
  return (result?.messages ?? [])
    .filter((m) => m.ruleId === 'no-restricted-imports' || m.ruleId === 'no-restricted-syntax')
    .map((m) => m.message);
}

describe('lint: the job never imports the emulator', () => {
  it.each([
    "import { startEmulator } from 'keboola-storage-emulator';",
    "import type { Seed } from '../emulator/src/seed.js';",
    "export { parseSeed } from '../../emulator/src/index.js';",
    "export const load = () => import('keboola-storage-emulator');",
    "import { DuckDBInstance } from '@duckdb/node-api';",
  ])(
    'fails on %s',
    async (code) => {
      const messages = await boundaryMessages(code);
      expect(messages).toHaveLength(1);
      expect(messages[0]).toContain('The job never imports the emulator');
    },
    60_000,
  );

  it('passes on the job’s own imports, and does not apply to tests', async () => {
    expect(await boundaryMessages("import { parseCli } from './cli.js';")).toEqual([]);
    expect(
      await boundaryMessages(
        "import { startEmulator } from 'keboola-storage-emulator';",
        'test/boundary-probe.ts',
      ),
    ).toEqual([]);
  }, 60_000);
});
