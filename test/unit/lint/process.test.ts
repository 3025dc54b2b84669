/**
 * The `process` rule of eslint.config.js (docs/architecture.md, Pipeline): only src/main.ts, the
 * composition root, touches `process`, and src/early-signals.ts, which it imports first; lint
 * fails on any other job module that reads the global or imports it. Only those rules run here, without type information, so the probe is fast.
 */
import { join } from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..', '..');

const RULES = new Set([
  'no-restricted-globals',
  'no-restricted-properties',
  'no-restricted-imports',
]);

const eslint = new ESLint({
  cwd: root,
  ruleFilter: ({ ruleId }) => RULES.has(ruleId),
  overrideConfig: { languageOptions: { parserOptions: { projectService: false } } },
});

/** The rule ids of the problems reported for `source` placed at `path`. */
async function ruleIds(path: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath: join(root, path) });
  return (result?.messages ?? []).map((m) => m.ruleId ?? 'parse');
}

describe('only src/main.ts touches process', () => {
  it.each([
    ['src/lock/probe.ts', 'export const pid = process.pid;\n', 'no-restricted-globals'],
    [
      'src/progress/probe.ts',
      'export const rss = globalThis.process.pid;\n',
      'no-restricted-properties',
    ],
    [
      'src/state/probe.ts',
      "import { pid } from 'node:process';\nexport { pid };\n",
      'no-restricted-imports',
    ],
    [
      'src/version.ts',
      "import process from 'process';\nexport const pid = process.pid;\n",
      'no-restricted-imports',
    ],
  ])('%s: %j fails lint', async (path, source, rule) => {
    expect(await ruleIds(path, source)).toContain(rule);
  });

  it('src/main.ts may', async () => {
    const source = "import { pid } from 'node:process';\nexport const all = [pid, process.pid];\n";
    expect(await ruleIds('src/main.ts', source)).toEqual([]);
  });

  it('src/early-signals.ts may read the global: it installs the first signal handlers', async () => {
    const source = "process.on('SIGTERM', () => undefined);\nexport const pid = process.pid;\n";
    expect(await ruleIds('src/early-signals.ts', source)).toEqual([]);
    // Not an import of node:process, and only main.ts may import it (its layer, LAYERS).
    expect(
      await ruleIds('src/early-signals.ts', "import { pid } from 'node:process';\n"),
    ).toContain('no-restricted-imports');
    expect(
      await ruleIds('src/run.ts', "import { takeEarlySignal } from './early-signals.js';\n"),
    ).toContain('no-restricted-imports');
  });
});
