/**
 * Provider credentials that expire in the middle of a table (issue 4). The emulator's
 * `expireCredentials` fault expires every object-store credential issued so far just before the
 * second slice request (`skip: 1`, one slice in flight at a time), so the first slice went through
 * and the rest of the table needs fresh credentials:
 * - downloads (every provider): the job fetches the file detail again and retries the slice;
 * - GCS uploads: the job calls `PUT files/{id}/refresh` and uploads the slice again;
 * - S3 / Azure uploads: prepared-file credentials cannot be refreshed, so the table fails at once
 *   with a clear message, without retrying the slice and without importing anything.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { useEmulator } from '../helpers/emulator.js';
import { logLines, removeDir } from '../helpers/run-cli.js';
import { expectNoSecrets } from '../helpers/secret-scan.js';
import {
  COLUMNS,
  DESTINATION_BUCKET,
  PROVIDERS,
  ROWS,
  SOURCE_BUCKET,
  expectExitCode,
  destinationProjectId,
  destinationToken,
  outputRows,
  platformConfig,
  providersSeed,
  rowsOf,
  runJob,
  sortRows,
  sourceProjectId,
  sourceToken,
  standaloneConfig,
  type CliRun,
} from './providers-fixture.js';

const emulator = useEmulator(providersSeed());

/** One slice at a time, so "after the first slice" is well defined. */
const SEQUENTIAL = { KBC_TABLE_SYNC_SLICES_PER_TABLE: '1', KBC_TABLE_SYNC_SLICES_GLOBAL: '1' };

afterEach(() => {
  emulator.control.clearFaults();
});

function requestCount(pattern: string): number {
  return emulator.control.stats().requests[pattern] ?? 0;
}

function messages(run: CliRun): string[] {
  return logLines(run.result.stdout).map((line) => String(line.msg));
}

async function expectClean(run: CliRun, tokens: string[]): Promise<void> {
  await expectNoSecrets([...emulator.control.issuedSecrets(), ...tokens], run.result, run.dataDir);
}

describe.each(PROVIDERS)('download credentials on %s expire after the first slice', (provider) => {
  it('fetches the file detail again, retries the slice and copies every row', async () => {
    const fileDetails = requestCount('GET /v2/storage/files/{fileId}');
    const rejected = emulator.control.stats().objectStore.byProvider[provider].rejected;
    emulator.control.addFault({
      kind: 'expireCredentials',
      method: 'GET',
      path: '_part_',
      skip: 1,
    });
    const run = await runJob(
      emulator.url,
      platformConfig(emulator.url, provider, [{ name: 'items' }]),
      SEQUENTIAL,
    );
    try {
      expectExitCode(run, 0);
      expect(emulator.control.pendingFaults()).toEqual([]);
      // The expired credential was refused once, then one fresh file detail served the rest.
      expect(emulator.control.stats().objectStore.byProvider[provider].rejected - rejected).toBe(1);
      expect(requestCount('GET /v2/storage/files/{fileId}') - fileDetails).toBe(2);
      expect(messages(run).some((m) => m.includes('fetching fresh credentials'))).toBe(true);
      expect(sortRows(await outputRows(run.dataDir, 'items.csv'))).toEqual(sortRows(ROWS));
      await expectClean(run, [sourceToken(provider)]);
    } finally {
      await removeDir(run.dataDir);
    }
  });
});

describe.each(PROVIDERS)('the signed manifest url on %s has expired', (provider) => {
  it('fetches the file detail again and reads the manifest through the fresh url', async () => {
    const fileDetails = requestCount('GET /v2/storage/files/{fileId}');
    emulator.control.addFault({ kind: 'expireCredentials', method: 'GET', path: 'manifest' });
    const run = await runJob(
      emulator.url,
      platformConfig(emulator.url, provider, [{ name: 'items' }]),
      SEQUENTIAL,
    );
    try {
      expectExitCode(run, 0);
      expect(emulator.control.pendingFaults()).toEqual([]);
      expect(requestCount('GET /v2/storage/files/{fileId}') - fileDetails).toBe(2);
      expect(sortRows(await outputRows(run.dataDir, 'items.csv'))).toEqual(sortRows(ROWS));
      await expectClean(run, [sourceToken(provider)]);
    } finally {
      await removeDir(run.dataDir);
    }
  });
});

describe('GCS upload credentials expire after the first slice', () => {
  it('refreshes them with PUT files/{id}/refresh, uploads the slice again and imports every row', async () => {
    const refreshes = requestCount('PUT /v2/storage/files/{fileId}/refresh');
    emulator.control.addFault({
      kind: 'expireCredentials',
      method: 'POST',
      path: '/upload/storage/v1/',
      skip: 1,
    });
    const run = await runJob(
      emulator.url,
      standaloneConfig(emulator.url, 'gcp', 'gcp', [
        { name: 'items', destination: 'refreshed', primaryKey: ['id'] },
      ]),
      SEQUENTIAL,
    );
    try {
      expectExitCode(run, 0);
      expect(emulator.control.pendingFaults()).toEqual([]);
      expect(requestCount('PUT /v2/storage/files/{fileId}/refresh') - refreshes).toBe(1);
      expect(messages(run).some((m) => m.includes('Refreshed the upload credentials'))).toBe(true);
      // The interrupted slice was sent again from byte zero (its source stream reopened).
      expect(
        logLines(run.result.stdout).filter((l) => /Restarting it/.test(String(l.msg))),
      ).toHaveLength(1);
      const source = await emulator.control.tableRows(
        sourceProjectId('gcp'),
        `${SOURCE_BUCKET}.items`,
      );
      const copied = await emulator.control.tableRows(
        destinationProjectId('gcp'),
        `${DESTINATION_BUCKET}.refreshed`,
      );
      expect(rowsOf(copied, COLUMNS)).toEqual(rowsOf(source, COLUMNS));
      await expectClean(run, [sourceToken('gcp'), destinationToken('gcp')]);
    } finally {
      await removeDir(run.dataDir);
    }
  });
});

describe.each(['aws', 'azure'] as const)(
  'upload credentials on %s expire after the first slice',
  (to) => {
    it('fails that table at once with a clear message and imports nothing', async () => {
      const rejected = emulator.control.stats().objectStore.byProvider[to].rejected;
      const imports = requestCount('POST /v2/storage/tables/{tableId}/import-async');
      emulator.control.addFault({
        kind: 'expireCredentials',
        method: 'PUT',
        path: '.part-',
        skip: 1,
      });
      const run = await runJob(
        emulator.url,
        standaloneConfig(emulator.url, 'gcp', to, [
          { name: 'items', destination: 'expired', primaryKey: ['id'] },
        ]),
        SEQUENTIAL,
      );
      try {
        expectExitCode(run, 2);
        expect(emulator.control.pendingFaults()).toEqual([]);
        const failure = messages(run).find((m) => m.startsWith('Table "in.c-src.items" failed'));
        expect(failure).toMatch(
          /UploadCredentialsRefusedError.*upload credentials of file \d+ were refused.*cannot be refreshed.*Run it again/,
        );
        // The slice was not retried with credentials that cannot work, and nothing was imported.
        expect(emulator.control.stats().objectStore.byProvider[to].rejected - rejected).toBe(1);
        expect(messages(run).some((m) => m.includes('Restarting it'))).toBe(false);
        expect(requestCount('POST /v2/storage/tables/{tableId}/import-async') - imports).toBe(0);
        await expect(async () =>
          emulator.control.tableRows(destinationProjectId(to), `${DESTINATION_BUCKET}.expired`),
        ).rejects.toThrow(/was not found/);
        await expectClean(run, [sourceToken('gcp'), destinationToken(to)]);
      } finally {
        await removeDir(run.dataDir);
      }
    });
  },
);
