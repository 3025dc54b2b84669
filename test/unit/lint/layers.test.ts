/**
 * The layer rule of eslint.config.js (docs/architecture.md, Layers): lint fails on a job module
 * that imports a module of its own layer or above (the emulator boundary has its own test,
 * test/unit/lint-boundary.test.ts). Only that rule runs here,
 * without type information, so the probe is fast; `npm run lint` runs it over the whole tree.
 */
import { join } from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..', '..');

const eslint = new ESLint({
  cwd: root,
  ruleFilter: ({ ruleId }) => ruleId === 'no-restricted-imports',
  overrideConfig: { languageOptions: { parserOptions: { projectService: false } } },
});

/** The layer-rule messages for `source` placed at `path` (relative to the repository). */
async function layerErrors(path: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath: join(root, path) });
  return (result?.messages ?? []).map((m) => `${m.ruleId ?? 'parse'}: ${m.message}`);
}

describe('imports point only down the layers', () => {
  it.each([
    ['src/objects/probe.ts', "import { runSync } from '../run.js';", 'objects/'],
    [
      'src/objects/probe.ts',
      "import { ProjectWriter } from '../output/project-writer.js';",
      'objects/',
    ],
    ['src/auth/probe.ts', "import { planTables } from '../plan/plan-tables.js';", 'auth/'],
    ['src/config/probe.ts', "import type { Logger } from '../logger.js';", 'config/'],
    ['src/errors.ts', "import { createLogger } from './logger.js';", 'errors.ts'],
    ['src/run.ts', "import { runSyncAction } from './actions/sync-actions.js';", 'run.ts'],
  ])('%s: %s fails lint', async (path, line, module) => {
    expect(await layerErrors(path, `${line}\n`)).toEqual([
      `no-restricted-imports: '${line.split("'")[1]}' import is restricted from being used by a pattern. ${module} may import only lower layers (LAYERS in eslint.config.js, docs/architecture.md).`,
    ]);
  });

  it.each([
    ['src/output/probe.ts', "import type { StorageClient } from '../storage/types.js';"],
    ['src/objects/probe.ts', "import { UserError } from '../errors.js';"],
    ['src/transfer/probe.ts', "import type { SliceSource } from '../objects/types.js';"],
    ['src/run.ts', "import { planTables } from './plan/plan-tables.js';"],
    ['src/main.ts', "import { lockDataDir } from './lock/data-dir-lock.js';"],
    ['src/actions/probe.ts', "import type { LastActivity } from '../tokens/rules.js';"],
  ])('%s: %s passes', async (path, line) => {
    expect(await layerErrors(path, `${line}\n`)).toEqual([]);
  });
});
