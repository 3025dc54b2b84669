/**
 * Platform mode against a source project on each file storage provider (issue 4): the built CLI
 * exports through the Storage API emulator and downloads the slices with S3 SigV4, an Azure SAS
 * or a GCS Bearer token, chosen from the file detail's `provider`, with no flag to set.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useEmulator } from '../helpers/emulator.js';
import { logLines, removeDir } from '../helpers/run-cli.js';
import { expectNoSecrets } from '../helpers/secret-scan.js';
import {
  COLUMNS,
  PROVIDERS,
  ROWS,
  SOURCE_BUCKET,
  expectExitCode,
  outputRows,
  platformConfig,
  providersSeed,
  rowsOf,
  runJob,
  sortRows,
  sourceProjectId,
  sourceToken,
} from './providers-fixture.js';

const emulator = useEmulator(providersSeed());

describe.each(PROVIDERS)('platform mode, source on %s', (provider) => {
  it('copies every slice with identical rows and leaks no credential', async () => {
    const before = emulator.control.stats().objectStore.byProvider[provider];
    const run = await runJob(
      emulator.url,
      platformConfig(emulator.url, provider, [{ name: 'items' }, { name: 'more' }]),
    );
    try {
      expectExitCode(run, 0);
      const source = await emulator.control.tableRows(
        sourceProjectId(provider),
        `${SOURCE_BUCKET}.items`,
      );
      expect(rowsOf(source, COLUMNS)).toEqual(sortRows(ROWS));
      expect(sortRows(await outputRows(run.dataDir, 'items.csv'))).toEqual(sortRows(ROWS));
      const more = await emulator.control.tableRows(
        sourceProjectId(provider),
        `${SOURCE_BUCKET}.more`,
      );
      expect(sortRows(await outputRows(run.dataDir, 'more.csv'))).toEqual(rowsOf(more, ['k', 'v']));

      // 3 + 2 slices, each in its own file; the table manifest names the columns.
      const manifest = JSON.parse(
        await readFile(join(run.dataDir, 'out', 'tables', 'items.csv.manifest'), 'utf8'),
      ) as { columns: string[] };
      expect(manifest.columns).toEqual([...COLUMNS]);
      const summaries = logLines(run.result.stdout).flatMap((l) =>
        l.summary ? [l.summary as { table: string; status: string; rows: number }] : [],
      );
      expect(summaries.map((s) => [s.table, s.status, s.rows])).toEqual([
        [`${SOURCE_BUCKET}.items`, 'success', ROWS.length],
        [`${SOURCE_BUCKET}.more`, 'success', more.length],
      ]);

      // The slices came from this provider's flavour of the object store: 2 manifests, 5 slices.
      const after = emulator.control.stats().objectStore.byProvider[provider];
      expect(after.gets - before.gets).toBe(7);
      expect(after.rejected - before.rejected).toBe(0);

      const secrets = emulator.control.issuedSecrets();
      expect(secrets.length).toBeGreaterThan(0);
      await expectNoSecrets([...secrets, sourceToken(provider)], run.result, run.dataDir);
    } finally {
      await removeDir(run.dataDir);
    }
  });
});

describe('object-store endpoint overrides, as the cloud SDKs read them', () => {
  it.each([
    ['aws', 'AWS_ENDPOINT_URL without AWS_ENDPOINT_URL_S3', { AWS_ENDPOINT_URL_S3: '' }],
    ['gcp', 'STORAGE_EMULATOR_HOST as host:port', {}],
  ] as const)('%s: %s', async (provider, _label, env) => {
    const overrides: Record<string, string> =
      provider === 'aws'
        ? { ...env, AWS_ENDPOINT_URL: emulator.url }
        : { STORAGE_EMULATOR_HOST: new URL(emulator.url).host };
    const run = await runJob(
      emulator.url,
      platformConfig(emulator.url, provider, [{ name: 'items' }]),
      overrides,
    );
    try {
      expectExitCode(run, 0);
      expect(sortRows(await outputRows(run.dataDir, 'items.csv'))).toEqual(sortRows(ROWS));
    } finally {
      await removeDir(run.dataDir);
    }
  });
});
