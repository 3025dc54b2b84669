import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const run = promisify(execFile);

interface PackResult {
  readonly files: readonly { readonly path: string }[];
}

/** `npm pack --dry-run --json` at the root: the paths the tarball would hold. */
async function packedPaths(selection: string): Promise<string[]> {
  const { stdout } = await run(
    'npm',
    ['pack', '--dry-run', '--json', '--ignore-scripts', selection],
    { cwd: root },
  );
  const [result] = JSON.parse(stdout) as PackResult[];
  return (result?.files ?? []).map((f) => f.path);
}

/** The suite has built already (npm test: build, then vitest). */
describe('package boundary', () => {
  it("the job's npm tarball holds no emulator file and no demo", async () => {
    const paths = await packedPaths('--workspaces=false');
    expect(paths).toContain('dist/main.js');
    expect(paths.filter((p) => /emulator|duckdb|demo|seed/i.test(p))).toEqual([]);
    expect(paths.filter((p) => !/^(dist\/|package\.json$|README\.md$|LICENSE$)/.test(p))).toEqual(
      [],
    );
  }, 60_000);

  it("the job's production dependencies hold neither the emulator nor its engine", async () => {
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const names = Object.keys(pkg.dependencies);
    expect(names).not.toContain('keboola-storage-emulator');
    expect(names).not.toContain('@duckdb/node-api');
    expect(names).not.toContain('csv-parse');
  });

  it("the emulator's tarball holds its build, seed and README", async () => {
    const paths = await packedPaths('--workspace=keboola-storage-emulator');
    for (const path of ['dist/index.js', 'dist/index.d.ts', 'dist/bin.js', 'seed/seed.json']) {
      expect(paths).toContain(path);
    }
    expect(paths).toContain('README.md');
    expect(paths.filter((p) => p.startsWith('test/') || p.startsWith('src/'))).toEqual([]);
  }, 60_000);
});
